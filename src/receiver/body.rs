//! Reading a request's body within its limits: at most `max_request_bytes`
//! (a larger `Content-Length` is refused before a byte is read, a body
//! streaming past the limit stops being read), within `read_timeout`, and
//! decompressed from snappy only once its header's declared length is
//! known to be within the limit too.

use super::error::RequestError;
use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::time::Duration;

/// The body of a request whose `Content-Length` is `declared`, read within
/// `limit` bytes and `timeout`.
pub async fn read(
    body: Body,
    declared: Option<u64>,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, RequestError> {
    if declared.is_some_and(|n| n > limit) {
        return Err(RequestError::BodyTooLarge { limit });
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let collected = tokio::time::timeout(timeout, Limited::new(body, cap).collect())
        .await
        .map_err(|_| RequestError::BodyTimeout { after: timeout })?;
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(RequestError::BodyTooLarge { limit })
        }
        Err(e) => Err(match e.downcast::<axum::Error>() {
            Ok(source) => RequestError::BodyRead { source: *source },
            Err(other) => RequestError::BodyRead {
                source: axum::Error::new(other),
            },
        }),
    }
}

/// `body` decompressed (snappy block format), refused before anything is
/// allocated when its header declares more than `limit` bytes.
pub fn decompress(body: &[u8], limit: u64) -> Result<Vec<u8>, RequestError> {
    if body.is_empty() {
        return Err(RequestError::EmptyBody);
    }
    let declared =
        snap::raw::decompress_len(body).map_err(|source| RequestError::Snappy { source })?;
    if declared as u64 > limit {
        return Err(RequestError::DecompressedTooLarge {
            declared: declared as u64,
            limit,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|source| RequestError::Snappy { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_declaring_too_much_is_refused_before_decoding() {
        // The varint 0xFFFFFFFF: four gigabytes declared, two bytes sent.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(
            decompress(&claim, 32 << 20),
            Err(RequestError::DecompressedTooLarge {
                declared: 0xffff_ffff,
                ..
            })
        ));
        let ok = snap::raw::Encoder::new()
            .compress_vec(&[7u8; 1000])
            .expect("compress");
        assert_eq!(decompress(&ok, 1000).expect("within").len(), 1000);
        assert!(matches!(
            decompress(&ok, 999),
            Err(RequestError::DecompressedTooLarge { declared: 1000, .. })
        ));
        assert!(matches!(decompress(&[], 10), Err(RequestError::EmptyBody)));
        assert!(matches!(
            decompress(b"\x05garbage", 10),
            Err(RequestError::Snappy { .. })
        ));
    }

    #[tokio::test]
    async fn a_body_is_read_within_its_limit_only() {
        let body = || Body::from(vec![1u8; 100]);
        let d = Duration::from_secs(5);
        assert_eq!(
            read(body(), Some(100), 100, d).await.expect("fits").len(),
            100
        );
        assert!(matches!(
            read(body(), Some(100), 99, d).await,
            Err(RequestError::BodyTooLarge { limit: 99 })
        ));
        // No Content-Length: stopped as it streams past the limit.
        assert!(matches!(
            read(body(), None, 99, d).await,
            Err(RequestError::BodyTooLarge { limit: 99 })
        ));
    }
}
