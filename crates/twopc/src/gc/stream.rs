//! Streamed garbled tables: the garbler sends tables in chunks of bounded size
//! ([`MessageType::GC_TABLES`], whole 16-byte blocks) as it garbles, and the evaluator pulls
//! exactly the blocks of the next circuit, so neither side ever holds more than one chunk plus
//! one circuit's tables, however many circuits a batch has.

use std::io::{Read, Write};

use crate::block::{blocks_from_bytes, blocks_to_bytes, Block};
use crate::channel::{Channel, MessageType};
use crate::error::TwoPcError;

/// Default chunk: 64 Ki blocks (1 MiB).
pub const DEFAULT_CHUNK_BLOCKS: usize = 1 << 16;

/// The garbler's side: buffers table blocks and sends a chunk whenever it is full.
#[derive(Debug)]
pub struct TableSender {
    buf: Vec<Block>,
    chunk_blocks: usize,
    sent_blocks: u64,
}

impl TableSender {
    /// A sender flushing every `chunk_blocks` blocks (at least one).
    pub fn new(chunk_blocks: usize) -> Self {
        let chunk_blocks = chunk_blocks.max(1);
        Self {
            buf: Vec::with_capacity(chunk_blocks),
            chunk_blocks,
            sent_blocks: 0,
        }
    }

    /// The buffer to garble into ([`super::Garbler::garble`] appends to it); call
    /// [`TableSender::flush_full`] afterwards.
    pub fn buffer(&mut self) -> &mut Vec<Block> {
        &mut self.buf
    }

    /// Send whole chunks while the buffer holds at least one.
    pub fn flush_full<S: Read + Write>(&mut self, ch: &mut Channel<S>) -> Result<(), TwoPcError> {
        while self.buf.len() >= self.chunk_blocks {
            let rest = self.buf.split_off(self.chunk_blocks);
            self.send_buffer(ch)?;
            self.buf = rest;
        }
        Ok(())
    }

    /// Send whatever is buffered (at the end of a batch).
    pub fn finish<S: Read + Write>(&mut self, ch: &mut Channel<S>) -> Result<(), TwoPcError> {
        self.flush_full(ch)?;
        if !self.buf.is_empty() {
            self.send_buffer(ch)?;
        }
        Ok(())
    }

    fn send_buffer<S: Read + Write>(&mut self, ch: &mut Channel<S>) -> Result<(), TwoPcError> {
        let mut payload = Vec::with_capacity(16 * self.buf.len());
        blocks_to_bytes(&self.buf, &mut payload);
        ch.send(MessageType::GC_TABLES, &payload)?;
        self.sent_blocks += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Blocks sent so far.
    pub fn sent_blocks(&self) -> u64 {
        self.sent_blocks
    }
}

/// The evaluator's side: receives chunks on demand.
#[derive(Debug, Default)]
pub struct TableReceiver {
    buf: Vec<Block>,
    pos: usize,
}

impl TableReceiver {
    /// An empty receiver.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` table blocks, receiving chunks as needed.
    pub fn take<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        n: usize,
    ) -> Result<Vec<Block>, TwoPcError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.pos == self.buf.len() {
                let payload = ch.recv(MessageType::GC_TABLES)?;
                if payload.is_empty() {
                    return Err(TwoPcError::Protocol("empty garbled-table chunk".into()));
                }
                self.buf = blocks_from_bytes(&payload)?;
                self.pos = 0;
            }
            let k = (n - out.len()).min(self.buf.len() - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
        }
        Ok(out)
    }

    /// Fail if table blocks are left over (the garbler sent more than the circuits need).
    pub fn finish(&self) -> Result<(), TwoPcError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(TwoPcError::Protocol(format!(
                "{} garbled-table blocks left over",
                self.buf.len() - self.pos
            )))
        }
    }
}
