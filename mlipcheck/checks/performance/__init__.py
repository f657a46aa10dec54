"""Performance: throughput and scaling, thread safety and memory growth."""
