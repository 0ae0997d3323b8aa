"""The two ways a data set can fail: it cannot be had (download, missing file) or its content is wrong."""


class DatasetUnavailableError(RuntimeError):
    pass


class DataValidationError(ValueError):
    """The data set's content is wrong (not its availability): non-finite targets, duplicated materials,
    structures that cannot be read. The message names the data set, how many rows, the first ids and what to do."""
