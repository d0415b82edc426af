"""User errors: a bad ladder or config. Reported as one line, never a traceback."""


class ConfigError(Exception):
    """A mistake in the user's configuration, found before (or instead of) training.

    `where` names the file, `key` the dotted config key; the message says what is wrong.
    """

    exit_code = 2

    def __init__(self, message: str, key: str = "", where: str = ""):
        self.message, self.key, self.where = message, key, where
        super().__init__(self.line())

    def line(self) -> str:
        parts = [p for p in (self.where, self.key) if p]
        return f"{': '.join(parts)}: {self.message}" if parts else self.message
