//! The fixed-size input buffer both handshake machines read into.

use crate::Error;

/// Capacity of the handshake input buffer. The longest handshake a client can
/// pipeline is greeting (257) + password request (513) + request (262) = 1032
/// bytes; the rest is room for the first application bytes sent early.
pub(crate) const CAPACITY: usize = 2048;

/// Initial size: a typical handshake (greeting, login, request) fits several
/// times over, so the buffer rarely grows, and a new handshake zeroes 512 bytes
/// rather than 2 KiB (zeroing was a third of all handshake instructions).
const INITIAL: usize = 512;

/// A bounded buffer: bytes `[start..end]` are received but not yet consumed. It
/// doubles from [`INITIAL`] up to [`CAPACITY`] when a message needs the room.
#[derive(Debug)]
pub(crate) struct InputBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl InputBuf {
    pub(crate) fn new() -> Self {
        Self {
            data: vec![0; INITIAL],
            start: 0,
            end: 0,
        }
    }

    /// The unconsumed bytes.
    pub(crate) fn pending(&self) -> &[u8] {
        self.data.get(self.start..self.end).unwrap_or_default()
    }

    /// Marks `n` pending bytes as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into, after moving pending bytes to the front.
    ///
    /// Errs only if the buffer is full of a message still incomplete, which the
    /// RFC's message sizes make impossible; see [`CAPACITY`].
    pub(crate) fn space(&mut self) -> Result<&mut [u8], Error> {
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.data.len() {
            if self.data.len() >= CAPACITY {
                return Err(Error::MessageTooLong);
            }
            self.data.resize((self.data.len() * 2).min(CAPACITY), 0);
        }
        match self.data.get_mut(self.end..) {
            Some(space) if !space.is_empty() => Ok(space),
            _ => Err(Error::MessageTooLong),
        }
    }

    /// Records that `n` bytes were read into [`space`](Self::space).
    pub(crate) fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    /// Takes every pending byte, leaving the buffer empty.
    pub(crate) fn take_pending(&mut self) -> Vec<u8> {
        let rest = self.pending().to_vec();
        self.consume(rest.len());
        rest
    }
}
