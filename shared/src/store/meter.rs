//! Counting what the store asks of DynamoDB: requests, and the capacity
//! DynamoDB says they consumed. For the operator's access-pattern commands
//! and the benchmarks; off (and free) unless asked for.

use std::sync::Mutex;

use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};

/// Totals since the meter was made.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// DynamoDB requests sent (a retried request counts once).
    pub requests: u64,
    /// Read capacity units consumed, as DynamoDB reported them.
    pub read_units: f64,
    /// Write capacity units consumed, as DynamoDB reported them.
    pub write_units: f64,
}

#[derive(Debug, Default)]
pub struct CapacityMeter {
    usage: Mutex<Usage>,
}

impl CapacityMeter {
    pub fn usage(&self) -> Usage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }

    pub(crate) fn record(&self, consumed: &[ConsumedCapacity], writes: bool) {
        if let Ok(mut usage) = self.usage.lock() {
            usage.requests += 1;
            for c in consumed {
                let units = c.capacity_units.unwrap_or(0.0);
                if writes {
                    usage.write_units += c.write_capacity_units.unwrap_or(units);
                } else {
                    usage.read_units += c.read_capacity_units.unwrap_or(units);
                }
            }
        }
    }
}

/// What to ask DynamoDB to report.
pub(crate) fn mode(meter: Option<&CapacityMeter>) -> Option<ReturnConsumedCapacity> {
    meter.map(|_| ReturnConsumedCapacity::Total)
}
