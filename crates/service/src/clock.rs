//! Time as the service stores it: whole seconds since the Unix epoch, UTC.

use chrono::{DateTime, Utc};

use crate::error::ServiceError;

pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;

/// Now, in whole seconds.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// A stored time as the wire shows it.
pub fn to_utc(secs: i64) -> Result<DateTime<Utc>, ServiceError> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| ServiceError::CorruptData(format!("timestamp {secs} is out of range")))
}
