"""The stream under a command's ``self.stdout``/``self.stderr``, for writers of their own.

Django's ``OutputWrapper`` ends every write with a newline and colours stderr red:
right for messages, wrong for a progress bar redrawn with ``\\r`` or for a nested
``call_command`` whose own wrapper adds both again. ``RawStream`` writes through the
wrapper's public ``write`` as is, so ``call_command(stdout=...)`` and ``--no-color``
keep working (no private ``_out``).
"""

from __future__ import annotations

import io

from django.core.management.base import OutputWrapper

__all__ = ["RawStream"]


def _plain(text: str) -> str:
    return text


class RawStream(io.TextIOBase):
    def __init__(self, wrapper: OutputWrapper) -> None:
        super().__init__()
        self._wrapper = wrapper

    def write(self, text: str) -> int:
        self._wrapper.write(text, style_func=_plain, ending="")
        return len(text)

    def flush(self) -> None:
        self._wrapper.flush()

    def isatty(self) -> bool:
        return self._wrapper.isatty()

    def writable(self) -> bool:
        return True
