"""Finding a foundation model's weights on local disk: option, environment variable, cache."""
import os
from pathlib import Path

from mlipcheck.errors import ModelLoadError


def find_weights(framework, spec, env_var, cached: Path | None, how_to_get: str) -> Path:
    """The weights file for a model named without a path (`--model mace`), or a clear error.

    Order: the spec's `path=` option, then the environment variable, then the file the
    framework's own loader would have cached. Nothing is downloaded here.
    """
    candidates = [
        ("the path= option", spec.options.get("path")),
        (f"${env_var}", os.environ.get(env_var)),
        ("the framework's cache", str(cached) if cached else None),
    ]
    for origin, value in candidates:
        if value and Path(value).expanduser().is_file():
            return Path(value).expanduser()
        if value and origin != "the framework's cache":
            raise ModelLoadError(f"{framework}: {origin} names {value!r}, which is not a file.")
    where = f" or put it at {cached}" if cached else ""
    raise ModelLoadError(
        f"{framework}: no weights file found, and mlipcheck does not download at run time. "
        f"{how_to_get} Then pass it as --model {spec.adapter}:/path/to/file, or set "
        f"{env_var}=/path/to/file{where}.")


def check_model_file(framework, path, example) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelLoadError(
            f"{framework}: model file {str(path)!r} does not exist. Give the path of a local "
            f"model file, e.g. --model {example}.")
    return path
