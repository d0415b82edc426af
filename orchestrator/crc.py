"""TensorBoard's event records, checksummed in C.

Every record of an event file carries two CRC-32C checksums, which the `tensorboard` package computes
in pure Python: about 25 us for a 120-byte scalar event, paid in the training loop's process (the
writer thread holds the GIL while it checksums), and again for every record read back. `google-crc32c`
computes the same value in C in about 0.1 us. `install()` points TensorBoard's writer and reader at it;
without the C library (a platform with no wheel) TensorBoard keeps its own.
"""
from __future__ import annotations


def install() -> bool:
    """True when TensorBoard's event files are now checksummed by the C library."""
    try:
        import google_crc32c
    except ImportError:
        return False
    if google_crc32c.implementation != "c":  # its pure-Python fallback is no faster than TensorBoard's
        return False
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
    from tensorboard.summary.writer import record_writer

    def masked_crc32c(data: bytes) -> int:  # the same masking as pywrap_tensorflow.masked_crc32c
        x = google_crc32c.value(bytes(data))
        return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    pywrap_tensorflow.masked_crc32c = masked_crc32c  # the reader (event files read back, a resumed run)
    record_writer.masked_crc32c = masked_crc32c      # the writer (SummaryWriter's thread)
    return True
