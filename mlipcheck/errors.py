"""The exceptions mlipcheck raises on purpose; each carries a message meant for the user."""


class MlipcheckError(Exception):
    """Base class: the message is complete and is shown without a traceback."""


class UsageError(MlipcheckError):
    """The command line asks for something that does not exist (unknown model, bad option)."""


class ModelLoadError(MlipcheckError):
    """A model could not be loaded: framework missing, weights missing or corrupt, conflict."""


class ModelCallError(MlipcheckError):
    """The model could not be judged on a structure: it raised, hung, gave NaN or wrong shapes.

    This is an *error* outcome, not a *fail*: the property was never measured.
    """

    def __init__(self, message, atoms=None, kind="raised"):
        super().__init__(message)
        self.atoms = atoms
        self.kind = kind  # raised | timeout | nonfinite | shape


class ModelFailure(MlipcheckError):
    """The model broke a property so badly that the check cannot go on: a relaxation that ran away
    (volume x40, a cell collapsed flat), a supercell that would not fit. A *fail* of the model,
    with the structure, said before the derived work (phonopy on a degenerate cell) can hang."""

    def __init__(self, message, atoms=None):
        super().__init__(message)
        self.atoms = atoms
