//! Key rotation that never loses a working credential (DESIGN.md, "Rotation").
//!
//! A rotation runs seven steps, each journaled (see `journal.rs`) before it runs and after it
//! finishes:
//!
//! 1. **prepare**: the old key is active; the account's keys are noted; the keychain takes a
//!    probe write, so that a refusing keychain stops the rotation before anything changes;
//! 2. **create** the replacement: a new key with the old one's settings (*replace*), or a
//!    roll that keeps the old key alive for the grace period (*roll*);
//! 3. **store** its secret in the vault, read back and compared;
//! 4. **verify** it against the service (`GET /v1/ping`, with the key's allowed origin);
//! 5. **switch** local consumers: the old key's id now leads to the new one
//!    ([`crate::Keys::secret`], the CLI);
//! 6. **retire** the old key: revoked at once, or set to expire when the grace period ends
//!    (a roll did that already);
//! 7. **clean up**: the old secret leaves the keychain, the journal is removed.
//!
//! Until the new secret is stored, any failure rolls back: the new key is revoked (its secret is
//! gone or unusable) and the old key is as it was. After that, the rotation only moves forward:
//! a failure leaves it pending with both keys working, and the next
//! [`crate::Rotation::resume`] finishes it. A roll is the exception that the design
//! makes safe: once the service has rolled, the old key is on its way out, so a lost new key is
//! replaced by another (a *replace*), never abandoned.
//!
//! `Auto` replaces (the old key is untouched until the new one is stored, verified and in use).
//! Either way the account needs room for one more key: the service counts a key in its grace
//! period toward its cap, so at the cap a rotation is refused before anything changes, and the
//! person is told to revoke a key first.
//!
//! No secret is ever written to the journal, the links, a log line or an error.

mod guided;
mod journal;
mod links;
pub(crate) mod runtime;
mod steps;

use chrono::{DateTime, Duration, Utc};
use keyhaven_api::{CreateKeyRequest, ErrorCode, KeyMeta, KeyStatus, UpdateKeyRequest};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::app::Keyhaven;
use crate::catalog::Account;
use crate::connector::{Connector, PingCall};
use crate::error::{AuthFailure, Error, ErrorPayload, Result};
use crate::secret::Secret;
use crate::validate;
use crate::vault::names;

pub use self::guided::{GuidedOutcome, GuidedRotation, GuidedStep, GUIDED_VERSION};
pub(crate) use self::journal::JournalStore;
pub use self::journal::{Journal, JOURNAL_VERSION};
pub(crate) use self::links::LinkStore;
use self::runtime::fault_hook::{FaultAction, FaultContext, FaultHook, FaultPoint};
#[cfg(feature = "test-support")]
pub use self::runtime::faults;
pub use self::steps::RotationStep;

/// Replacement keys made after the first was lost or refused, before giving up.
pub const MAX_REPLACEMENTS: u32 = 2;
/// How much earlier than the journal's start a key may look created (clock skew between this
/// machine and the service) and still be recognised as this rotation's.
const ORPHAN_SLACK_SECONDS: i64 = 120;

/// How long the old key keeps working once its replacement is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
pub enum Grace {
    /// Revoked as soon as the new key is stored, verified and in use.
    #[default]
    #[serde(rename = "none")]
    None,
    #[serde(rename = "1h")]
    OneHour,
    #[serde(rename = "24h")]
    OneDay,
    #[serde(rename = "7d")]
    SevenDays,
}

impl Grace {
    pub const ALL: [Grace; 4] = [Grace::None, Grace::OneHour, Grace::OneDay, Grace::SevenDays];

    pub fn seconds(self) -> u64 {
        match self {
            Grace::None => 0,
            Grace::OneHour => 3_600,
            Grace::OneDay => 86_400,
            Grace::SevenDays => 7 * 86_400,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grace::None => "none",
            Grace::OneHour => "1h",
            Grace::OneDay => "24h",
            Grace::SevenDays => "7d",
        }
    }

    /// `none`, `1h`, `24h` or `7d`.
    pub fn parse(text: &str) -> Result<Grace> {
        Grace::ALL
            .into_iter()
            .find(|g| g.as_str() == text.trim())
            .ok_or_else(|| Error::validation("grace", "must be none, 1h, 24h or 7d"))
    }
}

/// How the replacement is made, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RotationMethod {
    /// Replace (the method that keeps the old key untouched longest).
    #[default]
    Auto,
    /// The service's roll: new secret, same key settings, the old key expiring after the grace
    /// period. Needs a grace period (a roll without one would revoke the old key before the new
    /// one is safely stored).
    Roll,
    /// A new key with the old one's settings; the old one is revoked or set to expire once the
    /// new one is stored, verified and in use.
    Replace,
}

impl RotationMethod {
    pub fn parse(text: &str) -> Result<RotationMethod> {
        match text.trim() {
            "auto" => Ok(RotationMethod::Auto),
            "roll" => Ok(RotationMethod::Roll),
            "replace" => Ok(RotationMethod::Replace),
            _ => Err(Error::validation("method", "must be auto, roll or replace")),
        }
    }
}

/// How the replacement is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Roll,
    Replace,
}

/// What to rotate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
pub struct RotateOptions {
    #[serde(default)]
    pub grace: Grace,
    #[serde(default)]
    pub method: RotationMethod,
}

/// Where a step stands, in a progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Done,
    Failed,
    /// Undoing or making good after a failure (revoking an unusable new key, making another).
    Recovering,
}

/// One step's progress, for the window to show as it happens. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RotationProgress {
    pub rotation_id: String,
    pub account_id: String,
    pub old_key_id: String,
    pub new_key_id: Option<String>,
    pub step: RotationStep,
    pub status: StepStatus,
    pub message: String,
}

/// How a rotation ended (or paused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RotationOutcome {
    /// The new key is stored, verified and in use; the old one is revoked or expiring.
    Completed {
        rotation_id: String,
        account_id: String,
        old_key_id: String,
        new_key: Box<KeyMeta>,
        method: Method,
        /// When the old key stops working (now, for no grace period).
        #[ts(type = "string | null")]
        old_key_expires_at: Option<DateTime<Utc>>,
    },
    /// Undone: the old key is in use as before. After a roll, it still stops working at
    /// `old_key_expires_at`: rotate again before then.
    RolledBack {
        rotation_id: String,
        account_id: String,
        old_key_id: String,
        reason: ErrorPayload,
        #[ts(type = "string | null")]
        old_key_expires_at: Option<DateTime<Utc>>,
    },
    /// Stopped by something that should pass (the network, the keychain); both the old key and
    /// anything already stored keep working. [`crate::Rotation::resume`] goes on.
    Pending {
        rotation_id: String,
        account_id: String,
        old_key_id: String,
        step: RotationStep,
        reason: ErrorPayload,
    },
}

impl RotationOutcome {
    pub fn rotation_id(&self) -> &str {
        match self {
            RotationOutcome::Completed { rotation_id, .. }
            | RotationOutcome::RolledBack { rotation_id, .. }
            | RotationOutcome::Pending { rotation_id, .. } => rotation_id,
        }
    }
}

/// An unfinished rotation, as its journal describes it (no network needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PendingRotation {
    pub rotation_id: String,
    pub account_id: String,
    pub old_key_id: String,
    pub old_key_name: String,
    pub new_key_id: Option<String>,
    pub step: RotationStep,
    pub step_done: bool,
    #[ts(type = "string")]
    pub started_at: DateTime<Utc>,
    pub last_error: Option<ErrorPayload>,
}

/// A sink for progress reports.
pub type Progress<'a> = &'a (dyn Fn(&RotationProgress) + Send + Sync);

/// Why the engine stopped short.
enum Halt {
    /// A simulated process death: nothing more may run.
    Crash,
    Fail(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Halt {
        Halt::Fail(e)
    }
}

/// What the engine does next.
enum Flow {
    /// The step did its work: record it and go to the next.
    Next,
    /// The journal was moved (another replacement, another method): run what it says now.
    Again,
    Done(RotationOutcome),
    /// Refused before anything changed: the caller gets the error.
    Refused(Error),
}

impl Keyhaven {
    fn cannot(&self, account: &Account, what: &str) -> Error {
        Error::Forbidden {
            message: format!(
                "this account ({} on its key service) cannot {what}.",
                account.role.as_str()
            ),
        }
    }

    pub(crate) fn journal_store(&self) -> Result<JournalStore> {
        Ok(JournalStore::new(&self.profile_dir()?))
    }

    pub(crate) fn link_store(&self) -> Result<LinkStore> {
        Ok(LinkStore::new(&self.profile_dir()?))
    }
}

impl crate::app::Rotation<'_> {
    /// Rotates `key_id` of `account_id` (see the [module documentation](crate::rotation)),
    /// reporting each step to `progress`. `Err` means nothing was changed (bad input, no
    /// permission, a key that is not active, a keychain that refuses); otherwise the outcome
    /// says whether the rotation completed, was undone, or waits for
    /// [`Rotation::resume`](crate::Rotation::resume).
    pub async fn rotate(
        &self,
        account_id: &str,
        key_id: &str,
        options: RotateOptions,
        progress: Progress<'_>,
    ) -> Result<RotationOutcome> {
        validate::id("key id", key_id)?;
        let account = self.core.accounts().get(account_id)?;
        let caps = self.core.accounts().capabilities(account_id)?;
        let grace = options.grace.seconds();
        let method = match options.method {
            RotationMethod::Roll => {
                if grace == 0 {
                    return Err(Error::validation(
                        "grace",
                        "a roll needs a grace period (1h, 24h or 7d): without one the old key would stop working before the new one is safely stored; choose replace for no grace period",
                    ));
                }
                if !caps.roll_key {
                    return Err(self.core.cannot(&account, "roll keys"));
                }
                Method::Roll
            }
            RotationMethod::Auto | RotationMethod::Replace => {
                let needed = caps.create_key
                    && if grace == 0 {
                        caps.revoke_key
                    } else {
                        caps.update_key && caps.key_expiry
                    };
                if !needed {
                    return Err(self.core.cannot(&account, "replace keys"));
                }
                if !caps.key_settings && !self.core.settings_known(&account.id, key_id)? {
                    return Err(Error::Forbidden {
                        message: "this service does not say a key's origins, IPs or hourly \
                                  limit, and this key was not made with Keyhaven, so a \
                                  replacement could not copy them: create the new key with the \
                                  settings you want, switch to it, then revoke the old one"
                            .into(),
                    });
                }
                Method::Replace
            }
        };
        if method == Method::Roll && grace > u64::from(caps.max_roll_grace_seconds) {
            return Err(Error::validation(
                "grace",
                format!(
                    "is longer than this service allows for a roll ({} seconds)",
                    caps.max_roll_grace_seconds
                ),
            ));
        }
        let runtime = self.core.rotation_runtime();
        let _guard = runtime
            .claim(&self.core.profile_dir()?, account_id, key_id)?
            .ok_or_else(|| Error::RotationInProgress {
                key_id: key_id.to_string(),
            })?;
        let journals = self.core.journal_store()?;
        let busy = journals.load_all()?.into_iter().any(|j| {
            j.account_id == account_id
                && (j.old_key_id == key_id || j.new_key_id.as_deref() == Some(key_id))
        });
        if busy {
            return Err(Error::RotationInProgress {
                key_id: key_id.to_string(),
            });
        }
        let now = Utc::now();
        let journal = Journal {
            version: JOURNAL_VERSION,
            id: format!("rot_{:016x}", rand::random::<u64>()),
            account_id: account.id.clone(),
            old_key_id: key_id.to_string(),
            old_key_name: String::new(),
            method,
            grace_seconds: grace,
            started_at: now,
            updated_at: now,
            known_key_ids: Vec::new(),
            step: RotationStep::Prepare,
            step_done: false,
            new_key_id: None,
            new_key_prefix: None,
            old_key_expires_at: None,
            replacements: 0,
            old_key_expiry: None,
            last_error: None,
        };
        let mut engine = Engine::new(self.core, account, journal, progress, true)?;
        tracing::info!(
            rotation = %engine.j.id, account = %account_id, key_id, grace_seconds = grace,
            method = ?method, "rotation started"
        );
        engine.save()?;
        engine.emit(
            RotationStep::Prepare,
            StepStatus::Started,
            RotationStep::Prepare.label(),
        );
        let result = match engine.hook(FaultPoint::Before(RotationStep::Prepare)).await {
            Ok(()) => engine.run().await,
            Err(halt) => Err(halt),
        };
        engine.conclude(result)
    }

    /// Unfinished rotations of the active profile, from their journals.
    pub fn pending(&self) -> Result<Vec<PendingRotation>> {
        Ok(self
            .core
            .journal_store()?
            .load_all()?
            .into_iter()
            .map(|j| PendingRotation {
                rotation_id: j.id,
                account_id: j.account_id,
                old_key_id: j.old_key_id,
                old_key_name: j.old_key_name,
                new_key_id: j.new_key_id,
                step: j.step,
                step_done: j.step_done,
                started_at: j.started_at,
                last_error: j.last_error,
            })
            .collect())
    }

    /// Finishes or undoes every unfinished rotation of the active profile (after a crash, or
    /// one left pending by the network or the keychain). Call it after opening the core (and,
    /// in the app, once the embedded service's URL is set). A rotation that still cannot go on
    /// stays pending.
    pub async fn resume(&self, progress: Progress<'_>) -> Result<Vec<RotationOutcome>> {
        let store = self.core.journal_store()?;
        let profile_dir = self.core.profile_dir()?;
        let mut outcomes = Vec::new();
        for found in store.load_all()? {
            let runtime = self.core.rotation_runtime();
            let Some(_guard) = runtime.claim(&profile_dir, &found.account_id, &found.old_key_id)?
            else {
                // Being rotated or finished by this process or another one right now: it is
                // theirs to finish.
                continue;
            };
            // Read again under the lock: the holder that had it may have finished it meanwhile.
            let Some(journal) = store.load_all()?.into_iter().find(|j| j.id == found.id) else {
                continue;
            };
            let account = match self.core.accounts().get(&journal.account_id) {
                Ok(a) => a,
                Err(e) => {
                    outcomes.push(RotationOutcome::Pending {
                        rotation_id: journal.id.clone(),
                        account_id: journal.account_id.clone(),
                        old_key_id: journal.old_key_id.clone(),
                        step: journal.step,
                        reason: e.payload(),
                    });
                    continue;
                }
            };
            tracing::info!(rotation = %journal.id, step = journal.step.as_str(), done = journal.step_done, "resuming a rotation");
            let mut engine = Engine::new(self.core, account, journal, progress, false)?;
            let result = engine.resume().await;
            match engine.conclude(result) {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => outcomes.push(RotationOutcome::Pending {
                    rotation_id: engine.j.id.clone(),
                    account_id: engine.j.account_id.clone(),
                    old_key_id: engine.j.old_key_id.clone(),
                    step: engine.j.step,
                    reason: e.payload(),
                }),
            }
        }
        Ok(outcomes)
    }

    /// Test hook (fault injection); `None` removes it. Only with the `test-support` feature.
    #[cfg(feature = "test-support")]
    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        self.core.rotation_runtime().set_hook(hook);
    }
}

struct Engine<'a> {
    core: &'a Keyhaven,
    profile: String,
    account: Account,
    journals: JournalStore,
    links: LinkStore,
    j: Journal,
    /// The new key's secret, while this process holds it.
    secret: Option<Secret>,
    new_meta: Option<KeyMeta>,
    /// Whether the current step was entered by this process (not found half-done in a journal).
    fresh: bool,
    progress: Progress<'a>,
    hook: Option<FaultHook>,
}

impl<'a> Engine<'a> {
    fn new(
        core: &'a Keyhaven,
        account: Account,
        j: Journal,
        progress: Progress<'a>,
        fresh: bool,
    ) -> Result<Engine<'a>> {
        Ok(Engine {
            profile: core.profile(),
            journals: core.journal_store()?,
            links: core.link_store()?,
            hook: core.rotation_runtime().hook(),
            core,
            account,
            j,
            secret: None,
            new_meta: None,
            fresh,
            progress,
        })
    }

    fn save(&mut self) -> Result<()> {
        self.j.updated_at = Utc::now();
        self.journals.save(&self.j)
    }

    fn emit(&self, step: RotationStep, status: StepStatus, message: &str) {
        tracing::info!(
            rotation = %self.j.id, step = step.as_str(), status = ?status,
            new_key_id = self.j.new_key_id.as_deref().unwrap_or(""), "{message}"
        );
        (self.progress)(&RotationProgress {
            rotation_id: self.j.id.clone(),
            account_id: self.j.account_id.clone(),
            old_key_id: self.j.old_key_id.clone(),
            new_key_id: self.j.new_key_id.clone(),
            step,
            status,
            message: message.to_string(),
        });
    }

    async fn hook(&self, point: FaultPoint) -> Result<(), Halt> {
        let Some(hook) = &self.hook else {
            return Ok(());
        };
        let action = hook(FaultContext {
            point,
            rotation_id: self.j.id.clone(),
            account_id: self.j.account_id.clone(),
            old_key_id: self.j.old_key_id.clone(),
            new_key_id: self.j.new_key_id.clone(),
        })
        .await;
        match action {
            FaultAction::Continue => Ok(()),
            FaultAction::Crash => Err(Halt::Crash),
        }
    }

    /// The engine's result as the caller sees it.
    fn conclude(&mut self, result: Result<Flow, Halt>) -> Result<RotationOutcome> {
        match result {
            Ok(Flow::Done(outcome)) => Ok(outcome),
            Ok(Flow::Refused(e)) => Err(e),
            Ok(Flow::Next | Flow::Again) => Err(Error::TaskFailed {
                during: "rotated a key (the rotation stopped without an outcome)",
            }),
            Err(Halt::Crash) => {
                tracing::warn!(rotation = %self.j.id, "rotation stopped by an injected crash");
                Err(Error::TaskFailed {
                    during: "rotated a key (simulated crash)",
                })
            }
            // The journal could not be written: what is on disk describes the last step it
            // could, from which the next start goes on.
            Err(Halt::Fail(e)) => Ok(self.pending(e)),
        }
    }

    fn pending(&mut self, reason: Error) -> RotationOutcome {
        self.j.last_error = Some(reason.payload());
        if let Err(e) = self.save() {
            tracing::warn!(rotation = %self.j.id, code = ?e.code(), "could not note why the rotation paused: {e}");
        }
        self.emit(self.j.step, StepStatus::Failed, &reason.to_string());
        tracing::warn!(rotation = %self.j.id, step = self.j.step.as_str(), code = ?reason.code(), "rotation paused; it will resume: {reason}");
        RotationOutcome::Pending {
            rotation_id: self.j.id.clone(),
            account_id: self.j.account_id.clone(),
            old_key_id: self.j.old_key_id.clone(),
            step: self.j.step,
            reason: reason.payload(),
        }
    }

    fn rolled_back(&mut self, reason: Error) -> Result<Flow, Halt> {
        self.journals.remove(&self.j.id)?;
        self.emit(
            self.j.step,
            StepStatus::Failed,
            &format!("Rotation undone: {reason}"),
        );
        tracing::warn!(rotation = %self.j.id, code = ?reason.code(), "rotation rolled back: {reason}");
        Ok(Flow::Done(RotationOutcome::RolledBack {
            rotation_id: self.j.id.clone(),
            account_id: self.j.account_id.clone(),
            old_key_id: self.j.old_key_id.clone(),
            reason: reason.payload(),
            old_key_expires_at: self.j.old_key_expires_at,
        }))
    }

    /// A journal found on disk: roll back what had not reached the keychain, go on with the
    /// rest.
    async fn resume(&mut self) -> Result<Flow, Halt> {
        self.emit(
            self.j.step,
            StepStatus::Recovering,
            "Resuming a rotation that did not finish",
        );
        if self.j.step == RotationStep::Prepare {
            // Nothing changed anywhere yet.
            self.delete_probe().await;
            return self.rolled_back(Error::TaskFailed {
                during: "prepared a rotation (Keyhaven stopped before anything changed)",
            });
        }
        self.run().await
    }

    async fn run(&mut self) -> Result<Flow, Halt> {
        loop {
            if !self.j.step_done {
                let step = self.j.step;
                let flow = match self.run_step(step).await {
                    Ok(Flow::Next) => {
                        self.hook(FaultPoint::After(step)).await?;
                        self.j.step_done = true;
                        self.save()?;
                        self.emit(step, StepStatus::Done, step.label());
                        Flow::Next
                    }
                    Ok(flow) => flow,
                    Err(Halt::Crash) => return Err(Halt::Crash),
                    Err(Halt::Fail(e)) => self.on_failure(step, e).await?,
                };
                match flow {
                    Flow::Next => {}
                    Flow::Again => continue,
                    done @ (Flow::Done(_) | Flow::Refused(_)) => return Ok(done),
                }
            }
            match self.j.step.next() {
                Some(next) => {
                    self.j.step = next;
                    self.j.step_done = false;
                    self.fresh = true;
                    self.save()?;
                    self.emit(next, StepStatus::Started, next.label());
                    self.hook(FaultPoint::Before(next)).await?;
                }
                None => return self.finish().await,
            }
        }
    }

    async fn run_step(&mut self, step: RotationStep) -> Result<Flow, Halt> {
        match step {
            RotationStep::Prepare => self.prepare().await,
            RotationStep::Create => self.create().await,
            RotationStep::Store => self.store().await,
            RotationStep::Verify => self.verify().await,
            RotationStep::Switch => {
                let new = self.new_key_id()?;
                self.links
                    .link(&self.j.account_id, &self.j.old_key_id, &new)?;
                Ok(Flow::Next)
            }
            RotationStep::Retire => self.retire().await,
            RotationStep::Cleanup => {
                self.core
                    .vault()
                    .delete(
                        &self.profile,
                        &names::key(&self.j.account_id, &self.j.old_key_id),
                    )
                    .await?;
                if self.j.old_key_expires_at.is_some_and(|t| t <= Utc::now()) {
                    self.core
                        .forget_settings(&self.j.account_id, &self.j.old_key_id);
                }
                Ok(Flow::Next)
            }
        }
    }

    fn new_key_id(&self) -> Result<String> {
        self.j.new_key_id.clone().ok_or(Error::TaskFailed {
            during: "rotated a key (the journal names no new key)",
        })
    }

    fn probe_name(&self) -> String {
        format!("rotation-probe:{}", self.j.id)
    }

    async fn delete_probe(&self) {
        if let Err(e) = self
            .core
            .vault()
            .delete(&self.profile, &self.probe_name())
            .await
        {
            tracing::debug!(code = ?e.code(), "the rotation's keychain probe could not be removed");
        }
    }

    async fn old_meta(&self) -> Result<KeyMeta> {
        let id = self.j.old_key_id.clone();
        let mut meta = self
            .core
            .with_session(&self.j.account_id, |c, token| {
                let id = id.clone();
                async move { c.get_key(&token, &id, None).await }
            })
            .await?;
        // A service that lists keys without their settings (TokenKit): those Keyhaven kept.
        self.core
            .fill_settings(&self.j.account_id, std::slice::from_mut(&mut meta));
        Ok(meta)
    }

    async fn revoke(&self, key_id: &str) -> Result<()> {
        let result = self
            .core
            .with_session(&self.j.account_id, |c, token| async move {
                c.revoke_key(&token, key_id).await
            })
            .await;
        match result {
            Ok(()) => {}
            // Already gone or already revoked: what revoking wanted.
            Err(e) if already_gone(&e) => {}
            Err(e) => return Err(e),
        }
        self.core.forget_settings(&self.j.account_id, key_id);
        Ok(())
    }

    async fn prepare(&mut self) -> Result<Flow, Halt> {
        let old = self.old_meta().await?;
        if old.status != KeyStatus::Active {
            return Err(Error::validation(
                "key",
                format!(
                    "is {}; only an active key can be rotated",
                    old.status.as_str()
                ),
            )
            .into());
        }
        let keys = self
            .core
            .with_session(&self.j.account_id, |c, token| async move {
                c.list_keys(&token, None).await
            })
            .await?;
        self.j.old_key_name = old.name.clone();
        self.j.old_key_expiry = old.expires_at;
        self.j.known_key_ids = keys.into_iter().map(|k| k.id).collect();
        // A keychain that refuses must stop the rotation before the service changes anything.
        let probe = Secret::new(format!("probe-{:016x}", rand::random::<u64>()));
        let vault = self.core.vault();
        vault.put(&self.profile, &self.probe_name(), &probe).await?;
        vault.delete(&self.profile, &self.probe_name()).await?;
        Ok(Flow::Next)
    }

    /// A create request with the old key's settings.
    fn replacement_request(old: &KeyMeta, expiry: Option<DateTime<Utc>>) -> CreateKeyRequest {
        let soon = Utc::now() + Duration::seconds(60);
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        CreateKeyRequest {
            name: old.name.clone(),
            scopes: old.scopes.clone(),
            expires_at: expiry.filter(|t| *t > soon),
            allowed_origins: list(&old.allowed_origins),
            allowed_ips: list(&old.allowed_ips),
            rate_limit_per_hour: old.rate_limit_per_hour,
            domain: None,
        }
    }

    async fn create(&mut self) -> Result<Flow, Halt> {
        if !self.fresh {
            // Found half-done: the request may have reached the service, and its answer (the
            // only copy of the new secret) is gone.
            if let Some(flow) = self.recover_create().await? {
                return Ok(flow);
            }
        }
        let account_id = self.j.account_id.clone();
        let new = match self.j.method {
            Method::Replace => {
                let old = self.old_meta().await?;
                // The old key's own expiry, not the end of a roll's grace period (a key that is no
                // longer active carries that, or has expired).
                let own = (old.status == KeyStatus::Active)
                    .then_some(old.expires_at)
                    .flatten();
                let expiry = self.j.old_key_expiry.or(own);
                let request = Engine::replacement_request(&old, expiry);
                self.core
                    .with_session(&account_id, |c, token| {
                        let request = request.clone();
                        async move { c.create_key(&token, &request).await }
                    })
                    .await?
            }
            Method::Roll => {
                let (id, grace) = (self.j.old_key_id.clone(), self.j.grace_seconds);
                self.core
                    .with_session(&account_id, |c, token| {
                        let id = id.clone();
                        async move { c.roll_key(&token, &id, grace).await }
                    })
                    .await?
            }
        };
        self.j.new_key_id = Some(new.meta.id.clone());
        self.j.new_key_prefix = Some(new.meta.prefix.clone());
        if let Err(e) = self.core.remember_settings(&self.account, &new.meta) {
            tracing::warn!(rotation = %self.j.id, "the new key's settings were not kept: {e}");
        }
        self.secret = Some(new.secret);
        self.new_meta = Some(new.meta);
        if self.j.method == Method::Roll {
            self.j.old_key_expires_at =
                Some(Utc::now() + Duration::seconds(self.j.grace_seconds as i64));
        }
        Ok(Flow::Next)
    }

    /// Keys this rotation may have made without learning their secret: not among the keys
    /// noted at the start, the old key's name, made since the rotation began, still usable.
    async fn revoke_orphans(&mut self) -> Result<()> {
        if let Some(new) = self.j.new_key_id.clone() {
            self.revoke(&new).await?;
        }
        let keys = self
            .core
            .with_session(&self.j.account_id, |c, token| async move {
                c.list_keys(&token, None).await
            })
            .await?;
        let since = self.j.started_at - Duration::seconds(ORPHAN_SLACK_SECONDS);
        for key in keys {
            let orphan = key.id != self.j.old_key_id
                && !self.j.known_key_ids.contains(&key.id)
                && key.name == self.j.old_key_name
                && key.created_at >= since
                && matches!(key.status, KeyStatus::Active | KeyStatus::Expiring);
            if orphan {
                self.emit(
                    RotationStep::Create,
                    StepStatus::Recovering,
                    &format!(
                        "Revoking key {} ({}), made by this rotation but whose secret was lost",
                        key.id, key.prefix
                    ),
                );
                self.revoke(&key.id).await?;
            }
        }
        Ok(())
    }

    /// `None`: go on and create a replacement now.
    async fn recover_create(&mut self) -> Result<Option<Flow>, Halt> {
        self.revoke_orphans().await?;
        self.forget_new_key();
        let old = self.old_meta().await?;
        if old.status == KeyStatus::Active && self.j.replacements == 0 {
            return self.rolled_back(lost_before_stored()).map(Some);
        }
        // The old key is already on its way out (a roll happened), or gone by its expiry while
        // the rotation waited: make a replacement now, never fall back to a key that no longer
        // works (SECURITY 21). Only a key someone revoked is left as it is.
        self.j.old_key_expires_at = old.expires_at.or(self.j.old_key_expires_at);
        if !replaceable(old.status) {
            return self
                .rolled_back(Error::validation(
                    "key",
                    format!("is {} and can no longer be replaced", old.status.as_str()),
                ))
                .map(Some);
        }
        self.j.method = Method::Replace;
        self.fresh = true;
        self.save()?;
        self.emit(
            RotationStep::Create,
            StepStatus::Recovering,
            "The old key is already expiring: making a replacement key",
        );
        Ok(None)
    }

    fn forget_new_key(&mut self) {
        self.j.new_key_id = None;
        self.j.new_key_prefix = None;
        self.secret = None;
        self.new_meta = None;
    }

    async fn store(&mut self) -> Result<Flow, Halt> {
        let new = self.new_key_id()?;
        let name = names::key(&self.j.account_id, &new);
        let vault = self.core.vault();
        match &self.secret {
            Some(secret) => {
                vault.put(&self.profile, &name, secret).await?;
                Ok(Flow::Next)
            }
            // Found half-done: stored before the process stopped, or lost with it.
            None => {
                if vault.contains(&self.profile, &name).await? {
                    Ok(Flow::Next)
                } else {
                    self.new_key_lost(lost_before_stored()).await
                }
            }
        }
    }

    async fn verify(&mut self) -> Result<Flow, Halt> {
        let new = self.new_key_id()?;
        let secret = match &self.secret {
            Some(secret) => secret.clone(),
            None => match self
                .core
                .vault()
                .get(&self.profile, &names::key(&self.j.account_id, &new))
                .await?
            {
                Some(secret) => secret,
                None => {
                    return self
                        .new_key_lost(Error::not_found(format!(
                            "the new key {new}'s secret in the keychain"
                        )))
                        .await
                }
            },
        };
        let origin = match &self.new_meta {
            Some(meta) => meta.allowed_origins.first().cloned(),
            None => self
                .old_meta()
                .await
                .ok()
                .and_then(|m| m.allowed_origins.first().cloned()),
        };
        let connector = self.core.connector_for(&self.account)?;
        let answer = connector
            .ping(
                &secret,
                &PingCall {
                    scope: None,
                    origin,
                },
            )
            .await;
        drop(secret);
        match answer {
            Ok(pinged) if pinged.value.key_id == new => Ok(Flow::Next),
            // A service whose check does not name the key (TokenKit): accepted is enough.
            Ok(pinged) if pinged.value.key_id.is_empty() => Ok(Flow::Next),
            Ok(_) => Err(Error::UnexpectedResponse {
                url: String::new(),
                status: 200,
                problem: "the service identified the new secret as another key".to_string(),
            }
            .into()),
            // The key was identified, live, and refused only for where or how it was used
            // here (its rules or limits), which is a working key.
            Err(Error::Service {
                code:
                    ErrorCode::OriginNotAllowed | ErrorCode::IpNotAllowed | ErrorCode::ScopeMissing,
                ..
            })
            | Err(Error::RateLimited {
                code: ErrorCode::RateLimited | ErrorCode::DailyCapReached,
                ..
            }) => Ok(Flow::Next),
            Err(e) => Err(e.into()),
        }
    }

    async fn retire(&mut self) -> Result<Flow, Halt> {
        let new = self.new_key_id()?;
        if self.new_meta.is_none() {
            let id = new.clone();
            self.new_meta = Some(
                self.core
                    .with_session(&self.j.account_id, |c, token| {
                        let id = id.clone();
                        async move { c.get_key(&token, &id, None).await }
                    })
                    .await?,
            );
        }
        let old_id = self.j.old_key_id.clone();
        let grace = self.j.grace_seconds;
        let old = match self.old_meta().await {
            Ok(old) => old,
            Err(e) if already_gone(&e) => return Ok(Flow::Next),
            Err(e) => return Err(e.into()),
        };
        match old.status {
            KeyStatus::Revoked | KeyStatus::Expired => {
                self.j.old_key_expires_at = old.revoked_at.or(old.expires_at);
            }
            // Rolled: the service expires it at the end of the grace period.
            KeyStatus::Expiring => self.j.old_key_expires_at = old.expires_at,
            KeyStatus::Active if grace == 0 => {
                self.revoke(&old_id).await?;
                self.j.old_key_expires_at = Some(Utc::now());
            }
            KeyStatus::Active => {
                let end = Utc::now() + Duration::seconds(grace as i64);
                match old.expires_at {
                    Some(t) if t <= end => self.j.old_key_expires_at = Some(t),
                    _ => {
                        let update = UpdateKeyRequest {
                            expires_at: Some(Some(end)),
                            ..Default::default()
                        };
                        let meta = self
                            .core
                            .with_session(&self.j.account_id, |c, token| {
                                let (id, update) = (old_id.clone(), update.clone());
                                async move { c.update_key(&token, &id, &update).await }
                            })
                            .await?;
                        self.j.old_key_expires_at = meta.expires_at;
                    }
                }
            }
        }
        Ok(Flow::Next)
    }

    async fn finish(&mut self) -> Result<Flow, Halt> {
        let mut new_key = match self.new_meta.clone() {
            Some(meta) => meta,
            None => {
                let id = self.new_key_id()?;
                self.core
                    .with_session(&self.j.account_id, |c, token| {
                        let id = id.clone();
                        async move { c.get_key(&token, &id, None).await }
                    })
                    .await?
            }
        };
        // A replacement (not a roll) is known as one only to this rotation.
        new_key
            .replaces
            .get_or_insert_with(|| self.j.old_key_id.clone());
        self.journals.remove(&self.j.id)?;
        self.emit(
            RotationStep::Cleanup,
            StepStatus::Done,
            &format!(
                "Rotation complete: {} replaces {}",
                new_key.id, self.j.old_key_id
            ),
        );
        Ok(Flow::Done(RotationOutcome::Completed {
            rotation_id: self.j.id.clone(),
            account_id: self.j.account_id.clone(),
            old_key_id: self.j.old_key_id.clone(),
            new_key: Box::new(new_key),
            method: self.j.method,
            old_key_expires_at: self.j.old_key_expires_at,
        }))
    }

    /// The new key cannot serve: its secret never reached the keychain, or the service refuses
    /// it. Revoke it and forget its secret; then undo (the old key is as it was) or, when the
    /// old key is already on its way out, make another replacement.
    async fn new_key_lost(&mut self, reason: Error) -> Result<Flow, Halt> {
        self.emit(
            self.j.step,
            StepStatus::Recovering,
            &format!("The new key cannot be used ({reason}); revoking it"),
        );
        self.secret = None;
        if let Some(new) = self.j.new_key_id.clone() {
            self.revoke(&new).await?;
            let name = names::key(&self.j.account_id, &new);
            let vault = self.core.vault();
            if vault.contains(&self.profile, &name).await? {
                vault.delete(&self.profile, &name).await?;
            }
            self.links.unlink(&self.j.account_id, &self.j.old_key_id)?;
        } else {
            self.revoke_orphans().await?;
        }
        self.forget_new_key();
        let old = self.old_meta().await?;
        if old.status == KeyStatus::Active && self.j.replacements == 0 {
            return self.rolled_back(reason);
        }
        self.j.old_key_expires_at = old.expires_at.or(self.j.old_key_expires_at);
        if !replaceable(old.status) || self.j.replacements >= MAX_REPLACEMENTS {
            return self.rolled_back(reason);
        }
        // Another replacement. After a failure that should pass (the keychain, the network),
        // it waits for the next resume; otherwise it starts now.
        self.j.method = Method::Replace;
        self.j.replacements += 1;
        self.j.step = RotationStep::Create;
        self.j.step_done = false;
        self.j.last_error = Some(reason.payload());
        if is_transient(&reason) {
            self.fresh = false;
            self.save()?;
            return Ok(Flow::Done(self.pending(reason)));
        }
        self.fresh = true;
        self.save()?;
        self.emit(
            RotationStep::Create,
            StepStatus::Recovering,
            "The old key is already expiring: making another replacement key",
        );
        self.hook(FaultPoint::Before(RotationStep::Create)).await?;
        Ok(Flow::Again)
    }

    async fn on_failure(&mut self, step: RotationStep, e: Error) -> Result<Flow, Halt> {
        tracing::warn!(rotation = %self.j.id, step = step.as_str(), code = ?e.code(), "rotation step failed: {e}");
        match step {
            RotationStep::Prepare => {
                self.delete_probe().await;
                self.journals.remove(&self.j.id)?;
                self.emit(step, StepStatus::Failed, &e.to_string());
                Ok(Flow::Refused(e))
            }
            RotationStep::Create if is_transient(&e) => {
                // The request may have been carried out: the next resume looks for its key.
                self.fresh = false;
                Ok(Flow::Done(self.pending(e)))
            }
            RotationStep::Create => {
                // Refused by the service: nothing was made.
                self.rolled_back(e)
            }
            RotationStep::Store => {
                // The secret is only in this process's memory and the keychain will not take it.
                self.new_key_lost(e)
                    .await
                    .or_else(|halt| self.pending_on(halt))
            }
            RotationStep::Verify if is_refusal_of_the_key(&e) => self
                .new_key_lost(e)
                .await
                .or_else(|halt| self.pending_on(halt)),
            RotationStep::Retire if already_gone(&e) => {
                self.j.step_done = true;
                self.save()?;
                Ok(Flow::Again)
            }
            _ => Ok(Flow::Done(self.pending(e))),
        }
    }

    /// A failure while recovering from a failure: leave the rotation pending where it is.
    fn pending_on(&mut self, halt: Halt) -> Result<Flow, Halt> {
        match halt {
            Halt::Crash => Err(Halt::Crash),
            Halt::Fail(e) => Ok(Flow::Done(self.pending(e))),
        }
    }
}

/// Failures that should pass on their own: no network, the service unreachable or throttling,
/// a locked or refusing keychain, a locked profile, a session to renew, a file that could not
/// be written.
/// Whether a rotation that lost its new key makes another one: yes while the old key works or is
/// on its way out, and when it expired while the rotation waited (falling back to it would leave
/// no working key); not when someone revoked it.
fn replaceable(status: KeyStatus) -> bool {
    matches!(
        status,
        KeyStatus::Active | KeyStatus::Expiring | KeyStatus::Expired
    )
}

fn is_transient(e: &Error) -> bool {
    matches!(
        e,
        Error::Network { .. }
            | Error::Locked { .. }
            | Error::EmbeddedServiceNotRunning
            | Error::RateLimited { .. }
            | Error::KeychainUnavailable { .. }
            | Error::Keychain { .. }
            | Error::KeychainWrite
            | Error::Unauthorized {
                reason: AuthFailure::SessionExpired
            }
            | Error::Catalog { .. }
    ) || matches!(
        e,
        Error::Service {
            code: ErrorCode::Internal,
            ..
        }
    )
}

/// Why a rotation found half-done cannot use its new key.
fn lost_before_stored() -> Error {
    Error::TaskFailed {
        during: "rotated a key (Keyhaven stopped before the new secret reached the keychain)",
    }
}

/// The service refused the new key itself (unknown, revoked, expired), or answered for another.
fn is_refusal_of_the_key(e: &Error) -> bool {
    matches!(
        e,
        Error::Unauthorized {
            reason: AuthFailure::KeyRejected
        } | Error::UnexpectedResponse { status: 200, .. }
    )
}

/// The key is gone or no longer active: what a revocation wanted.
fn already_gone(e: &Error) -> bool {
    matches!(
        e.service_code(),
        Some(ErrorCode::NotFound | ErrorCode::Conflict)
    ) || matches!(e, Error::NotFound { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graces_and_methods_parse() {
        assert_eq!(Grace::parse("1h").expect("1h"), Grace::OneHour);
        assert_eq!(Grace::parse(" 7d ").expect("7d").seconds(), 604_800);
        assert_eq!(Grace::parse("none").expect("none").seconds(), 0);
        assert!(matches!(Grace::parse("2h"), Err(Error::Validation { .. })));
        assert_eq!(
            serde_json::to_string(&Grace::OneDay).expect("json"),
            "\"24h\""
        );
        assert_eq!(
            RotationMethod::parse("roll").expect("roll"),
            RotationMethod::Roll
        );
        assert!(RotationMethod::parse("swap").is_err());
        let options: RotateOptions = serde_json::from_str(r#"{"grace":"7d"}"#).expect("options");
        assert_eq!(options.grace, Grace::SevenDays);
        assert_eq!(options.method, RotationMethod::Auto);
    }

    #[test]
    fn steps_run_in_order() {
        let mut step = RotationStep::Prepare;
        let mut seen = vec![step];
        while let Some(next) = step.next() {
            seen.push(next);
            step = next;
        }
        assert_eq!(seen, RotationStep::ALL);
        assert_eq!(
            serde_json::to_string(&RotationStep::Verify).expect("json"),
            "\"verify\""
        );
    }

    #[test]
    fn outcomes_serialise_with_a_tag() {
        let o = RotationOutcome::Pending {
            rotation_id: "rot_1".into(),
            account_id: "acc".into(),
            old_key_id: "key".into(),
            step: RotationStep::Verify,
            reason: Error::Network {
                url: "http://127.0.0.1:1/".into(),
                reason: "refused".into(),
            }
            .payload(),
        };
        let v = serde_json::to_value(&o).expect("json");
        assert_eq!(v["outcome"], "pending");
        assert_eq!(v["step"], "verify");
        assert_eq!(v["reason"]["code"], "network");
    }

    #[test]
    fn failures_are_classified() {
        assert!(is_transient(&Error::Network {
            url: String::new(),
            reason: String::new()
        }));
        assert!(is_transient(&Error::KeychainUnavailable {
            fix: String::new()
        }));
        assert!(!is_transient(&Error::KeyLimitReached {
            message: String::new()
        }));
        assert!(is_refusal_of_the_key(&Error::Unauthorized {
            reason: AuthFailure::KeyRejected
        }));
        assert!(!is_refusal_of_the_key(&Error::Unauthorized {
            reason: AuthFailure::SessionExpired
        }));
        assert!(already_gone(&Error::Service {
            code: ErrorCode::NotFound,
            message: String::new()
        }));
        assert!(already_gone(&Error::Service {
            code: ErrorCode::Conflict,
            message: String::new()
        }));
    }
}
