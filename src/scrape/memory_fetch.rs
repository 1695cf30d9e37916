//! A [`Fetcher`] that serves bodies from memory, cut into fixed-size
//! chunks: for driving the scrape loop without sockets (tests, benches, or a
//! program that produces exposition text itself).

use super::error::ScrapeError;
use super::fetch::{BodyStream, FetchRequest, Fetcher};
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum MemoryResponse {
    /// A body with its Content-Type.
    Body {
        /// Sent as the Content-Type header.
        content_type: String,
        /// The whole body.
        body: Bytes,
    },
    /// A failed fetch (as a connection error).
    Error(String),
}

/// Serves queued responses in order; once one remains it is served forever.
#[derive(Clone)]
pub struct MemoryFetcher {
    queue: Arc<Mutex<VecDeque<MemoryResponse>>>,
    chunk_size: usize,
}

impl MemoryFetcher {
    /// An empty fetcher handing bodies out `chunk_size` bytes at a time.
    pub fn new(chunk_size: usize) -> Self {
        MemoryFetcher {
            queue: Arc::default(),
            chunk_size: chunk_size.max(1),
        }
    }

    /// Queues a body.
    pub fn push_body(&self, content_type: &str, body: impl Into<Bytes>) {
        self.queue.lock().push_back(MemoryResponse::Body {
            content_type: content_type.to_string(),
            body: body.into(),
        });
    }

    /// Queues a failed fetch.
    pub fn push_error(&self, message: &str) {
        self.queue
            .lock()
            .push_back(MemoryResponse::Error(message.to_string()));
    }
}

/// A body from memory.
pub struct MemoryBody {
    content_type: String,
    rest: Bytes,
    chunk_size: usize,
}

impl BodyStream for MemoryBody {
    fn content_type(&self) -> Option<&str> {
        Some(&self.content_type)
    }

    async fn chunk(&mut self) -> Result<Option<Bytes>, ScrapeError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let n = self.rest.len().min(self.chunk_size);
        Ok(Some(self.rest.split_to(n)))
    }
}

impl Fetcher for MemoryFetcher {
    type Body = MemoryBody;

    async fn fetch(&self, _req: &FetchRequest) -> Result<MemoryBody, ScrapeError> {
        let response = {
            let mut q = self.queue.lock();
            if q.len() > 1 {
                q.pop_front()
            } else {
                q.front().cloned()
            }
        };
        match response {
            Some(MemoryResponse::Body { content_type, body }) => Ok(MemoryBody {
                content_type,
                rest: body,
                chunk_size: self.chunk_size,
            }),
            Some(MemoryResponse::Error(message)) => Err(ScrapeError::Connection(message.into())),
            None => Err(ScrapeError::Connection("no response queued".into())),
        }
    }
}
