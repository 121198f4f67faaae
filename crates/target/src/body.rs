//! Response bodies without per-request allocation.
//!
//! Small fixed bodies are `Bytes::from_static`. `size=<n>` bodies are
//! streamed as slices of one shared, lazily allocated 1 MiB zero buffer, so
//! a 16 MiB response costs neither 16 MiB of memory nor a copy: the exact
//! length is announced up front (so hyper sends `content-length`), then up
//! to 1 MiB per frame.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Size of the shared zero buffer, and so of the largest frame.
const CHUNK: usize = 1 << 20;

/// `n <= CHUNK` zero bytes, as a slice of a buffer allocated once per
/// process (on first use) and leaked: no allocation and no refcount per
/// response.
fn zeros(n: usize) -> Bytes {
    static ZEROS: OnceLock<&'static [u8]> = OnceLock::new();
    let all = ZEROS.get_or_init(|| Box::leak(vec![0u8; CHUNK].into_boxed_slice()));
    Bytes::from_static(&all[..n])
}

/// The body of every response the target sends.
#[derive(Debug)]
pub(crate) enum TargetBody {
    /// A single chunk (possibly empty), sent at once.
    Once(Option<Bytes>),
    /// `remaining` zero bytes, streamed in slices of at most [`CHUNK`].
    Zeros { remaining: usize },
}

impl TargetBody {
    pub(crate) fn from_static(bytes: &'static [u8]) -> Self {
        Self::once(Bytes::from_static(bytes))
    }

    pub(crate) fn once(bytes: Bytes) -> Self {
        TargetBody::Once((!bytes.is_empty()).then_some(bytes))
    }

    pub(crate) fn empty() -> Self {
        TargetBody::Once(None)
    }

    pub(crate) fn zeros(len: usize) -> Self {
        TargetBody::Zeros { remaining: len }
    }

    fn len(&self) -> usize {
        match self {
            TargetBody::Once(b) => b.as_ref().map_or(0, Bytes::len),
            TargetBody::Zeros { remaining } => *remaining,
        }
    }
}

impl Body for TargetBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            TargetBody::Once(bytes) => bytes.take(),
            TargetBody::Zeros { remaining } => {
                let n = (*remaining).min(CHUNK);
                *remaining -= n;
                (n > 0).then(|| zeros(n))
            }
        };
        Poll::Ready(frame.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn collect(body: TargetBody) -> (u64, Vec<usize>, Bytes) {
        let hint = body.size_hint().exact().unwrap();
        let mut body = body;
        let mut frames = Vec::new();
        let mut all = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            frames.push(data.len());
            all.extend_from_slice(&data);
        }
        (hint, frames, Bytes::from(all))
    }

    #[tokio::test]
    async fn zeros_stream_in_chunks_with_exact_length() {
        let (hint, frames, all) = collect(TargetBody::zeros(2 * CHUNK + 5)).await;
        assert_eq!(hint, (2 * CHUNK + 5) as u64);
        assert_eq!(frames, vec![CHUNK, CHUNK, 5]);
        assert!(all.iter().all(|&b| b == 0));

        let (hint, frames, _) = collect(TargetBody::zeros(0)).await;
        assert_eq!((hint, frames.len()), (0, 0));
    }

    #[tokio::test]
    async fn once_bodies() {
        let (hint, frames, all) = collect(TargetBody::from_static(b"ok\n")).await;
        assert_eq!((hint, frames, all.as_ref()), (3, vec![3], &b"ok\n"[..]));
        let (hint, frames, _) = collect(TargetBody::empty()).await;
        assert_eq!((hint, frames.len()), (0, 0));
        assert!(TargetBody::once(Bytes::new()).is_end_stream());
    }
}
