"""A fixed-size set of piece indices with the wire bit order (piece 0 = high bit of byte 0)."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["Bitfield"]


class Bitfield:
    """Which of `count` pieces are present; spare bits of the last byte are always 0."""

    __slots__ = ("_bits", "_count", "_set")

    def __init__(self, count: int, data: bytes | None = None) -> None:
        if count < 0:
            raise ValueError(f"piece count must be >= 0, got {count}")
        self._count = count
        size = (count + 7) // 8
        if data is None:
            self._bits = bytearray(size)
            self._set = 0
        else:
            if len(data) != size:
                raise ValueError(f"bitfield for {count} pieces is {size} bytes, got {len(data)}")
            spare = size * 8 - count
            if spare and data[-1] & ((1 << spare) - 1):
                raise ValueError("bitfield has spare bits set past the last piece")
            self._bits = bytearray(data)
            self._set = int.from_bytes(self._bits, "big").bit_count()

    @classmethod
    def from_bytes(cls, count: int, data: bytes) -> Bitfield:
        """Parse wire bits; ValueError on wrong length or spare bits set."""
        return cls(count, data)

    @classmethod
    def full(cls, count: int) -> Bitfield:
        """A bitfield with every piece present (a seeder's)."""
        size, spare = (count + 7) // 8, (8 - count % 8) % 8
        data = bytearray(b"\xff" * size)
        if spare:
            data[-1] &= (0xFF << spare) & 0xFF
        return cls(count, bytes(data))

    @property
    def count(self) -> int:
        """Number of pieces (bits) the field describes."""
        return self._count

    def _check(self, index: int) -> None:
        if not 0 <= index < self._count:
            raise IndexError(f"piece index {index} out of range 0..{self._count - 1}")

    def has(self, index: int) -> bool:
        self._check(index)
        return bool(self._bits[index >> 3] & (0x80 >> (index & 7)))

    def set(self, index: int) -> None:
        if not self.has(index):
            self._bits[index >> 3] |= 0x80 >> (index & 7)
            self._set += 1

    def clear(self, index: int) -> None:
        if self.has(index):
            self._bits[index >> 3] &= ~(0x80 >> (index & 7)) & 0xFF
            self._set -= 1

    def count_set(self) -> int:
        """How many pieces are present (kept up to date, O(1))."""
        return self._set

    def complete(self) -> bool:
        return self._set == self._count

    def missing(self) -> list[int]:
        """Indices of absent pieces, ascending."""
        return [i for i in range(self._count) if not self.has(i)]

    def to_bytes(self) -> bytes:
        return bytes(self._bits)

    def copy(self) -> Bitfield:
        return Bitfield(self._count, bytes(self._bits))

    def __iter__(self) -> Iterator[int]:
        """Indices of present pieces, ascending."""
        for byte_index, byte in enumerate(self._bits):
            if byte:
                base = byte_index * 8
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        yield base + bit

    def __len__(self) -> int:
        return self._count

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and 0 <= index < self._count and self.has(index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bitfield):
            return NotImplemented
        return self._count == other._count and self._bits == other._bits

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Bitfield({self._count}, {self.count_set()} set)"
