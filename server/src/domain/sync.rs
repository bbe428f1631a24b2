//! The rules both doors share for reading and acknowledging a seller's log:
//! the delta query (`GET /api/notifications/delta` and the socket's
//! `notifications:sync`) and ack seqs (`POST /api/notifications/ack` and the
//! socket's `notifications:ack`). HTTP parses them from a query string or an
//! `ApiJson` body, the socket from its event's data; the checks are these.

use super::FieldError;
use super::limit::Limit;
use super::notification::Seq;
use app::types::{AckBody, SyncBody};

/// CONTRACT: `after` (default 0, never negative) and `limit` (default 100,
/// clamped to 500, below 1 refused) of a delta request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaQuery {
    pub after: Seq,
    pub limit: Limit,
}

impl DeltaQuery {
    /// Page size when the client names none.
    pub const DEFAULT_LIMIT: u32 = 100;

    /// # Errors
    /// A negative `after` or a `limit` below 1.
    pub fn parse(after: Option<i64>, limit: Option<i64>) -> Result<Self, FieldError> {
        let after = after.unwrap_or(0);
        if after < 0 {
            return Err(FieldError::new("after", "must be 0 or more"));
        }
        Ok(Self { after: Seq(after), limit: Limit::parse(limit, Self::DEFAULT_LIMIT)? })
    }
}

impl TryFrom<SyncBody> for DeltaQuery {
    type Error = FieldError;

    fn try_from(body: SyncBody) -> Result<Self, FieldError> {
        Self::parse(body.after, body.limit)
    }
}

/// CONTRACT: the seqs of one ack: 1 to [`AckSeqs::MAX`] of them, each 1 or
/// more. Seqs the seller does not have are not an error: they move nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckSeqs(Vec<Seq>);

impl AckSeqs {
    /// Most seqs in one ack.
    pub const MAX: usize = 500;

    /// # Errors
    /// None or more than [`Self::MAX`] seqs, or one below 1 (named by its
    /// index).
    pub fn parse(seqs: &[i64]) -> Result<Self, FieldError> {
        if seqs.is_empty() || seqs.len() > Self::MAX {
            return Err(FieldError::new(
                "seqs",
                format!("must hold 1 to {} seqs (got {})", Self::MAX, seqs.len()),
            ));
        }
        seqs.iter()
            .enumerate()
            .map(|(i, &seq)| {
                if seq >= 1 {
                    Ok(Seq(seq))
                } else {
                    Err(FieldError::new(format!("seqs[{i}]"), "must be 1 or more"))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn as_slice(&self) -> &[Seq] {
        &self.0
    }
}

impl TryFrom<AckBody> for AckSeqs {
    type Error = FieldError;

    fn try_from(body: AckBody) -> Result<Self, FieldError> {
        Self::parse(&body.seqs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_query_defaults_to_the_start_and_a_page_of_100() {
        let query = DeltaQuery::parse(None, None).unwrap();
        assert_eq!((query.after, query.limit.get()), (Seq(0), 100));
        let query = DeltaQuery::parse(Some(7), Some(9_999)).unwrap();
        assert_eq!((query.after, query.limit.get()), (Seq(7), Limit::MAX));
    }

    #[test]
    fn delta_query_refuses_negative_after_and_zero_limit() {
        assert_eq!(DeltaQuery::parse(Some(-1), None).unwrap_err().field, "after");
        assert_eq!(DeltaQuery::parse(None, Some(0)).unwrap_err().field, "limit");
    }

    #[test]
    fn sync_body_parses_like_the_query_string() {
        let body: SyncBody = serde_json::from_str(r#"{"after": 3}"#).unwrap();
        assert_eq!(DeltaQuery::try_from(body).unwrap().after, Seq(3));
        let body: SyncBody = serde_json::from_str("{}").unwrap();
        assert_eq!(DeltaQuery::try_from(body).unwrap().after, Seq(0));
    }

    #[test]
    fn ack_seqs_name_the_bad_index_and_cap_the_count() {
        assert_eq!(AckSeqs::parse(&[1, 2, 0]).unwrap_err().field, "seqs[2]");
        assert_eq!(AckSeqs::parse(&vec![1; AckSeqs::MAX + 1]).unwrap_err().field, "seqs");
        assert_eq!(AckSeqs::parse(&[3, 1]).unwrap().as_slice(), &[Seq(3), Seq(1)]);
        assert_eq!(AckSeqs::parse(&[]).unwrap_err().field, "seqs");
    }
}
