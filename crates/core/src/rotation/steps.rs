//! The steps of a rotation, on their own so that the rotation's runtime state (`runtime.rs`),
//! which the core's facade holds, needs nothing else of the rotation.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The steps of a rotation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RotationStep {
    Prepare,
    Create,
    Store,
    Verify,
    Switch,
    Retire,
    Cleanup,
}

impl RotationStep {
    pub const ALL: [RotationStep; 7] = [
        RotationStep::Prepare,
        RotationStep::Create,
        RotationStep::Store,
        RotationStep::Verify,
        RotationStep::Switch,
        RotationStep::Retire,
        RotationStep::Cleanup,
    ];

    pub fn next(self) -> Option<RotationStep> {
        let i = RotationStep::ALL.iter().position(|s| *s == self)?;
        RotationStep::ALL.get(i + 1).copied()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RotationStep::Prepare => "prepare",
            RotationStep::Create => "create",
            RotationStep::Store => "store",
            RotationStep::Verify => "verify",
            RotationStep::Switch => "switch",
            RotationStep::Retire => "retire",
            RotationStep::Cleanup => "cleanup",
        }
    }

    /// What the step does, for a person.
    pub fn label(self) -> &'static str {
        match self {
            RotationStep::Prepare => "Check the key and the keychain",
            RotationStep::Create => "Create the replacement key",
            RotationStep::Store => "Store the new secret in the keychain",
            RotationStep::Verify => "Verify the new key with the service",
            RotationStep::Switch => "Switch local uses to the new key",
            RotationStep::Retire => "Retire the old key",
            RotationStep::Cleanup => "Remove the old secret from the keychain",
        }
    }
}
