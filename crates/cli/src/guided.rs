//! `keyhaven keys rotate` for keys of services Keyhaven cannot make keys on (AniKura, Ananke
//! Labs, WaniKani, generic): a guided rotation. The person makes the new key on the service's
//! page and pastes it (standard input, one line); Keyhaven checks, stores and switches to it;
//! then, once the old key is deleted there (Enter, or `keys resume` later), confirms that the
//! service refuses it. Instructions go to standard error, the outcome to standard output.

use keyhaven_core::{Error, GuidedOutcome, GuidedRotation, GuidedStep, Keyhaven};
use serde::Serialize;

use crate::profiles::Lines;
use crate::{output, Done};

/// Where a guided rotation stands, as `--json` prints it (`_guided.json`).
#[derive(Serialize)]
pub(crate) struct Shown {
    rotation_id: String,
    account_id: String,
    old_key_id: String,
    new_key_id: Option<String>,
    /// `completed`, or the step it waits at (`new_key`, `delete_old`).
    state: &'static str,
    message: String,
    #[serde(skip)]
    exit: u8,
}

impl Shown {
    pub(crate) fn exit(&self) -> u8 {
        self.exit
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

fn shown(rotation: &GuidedRotation, outcome: Option<&GuidedOutcome>) -> Shown {
    let (state, message, exit) = match outcome {
        Some(GuidedOutcome::Completed { .. }) => (
            "completed",
            format!(
                "Rotated \"{}\": the new key is in use and {} refuses the old one, which left Keyhaven.",
                rotation.old_key_name, rotation.service
            ),
            0,
        ),
        Some(GuidedOutcome::Waiting { message, rotation }) => (
            step_name(rotation.step),
            format!("{message} (`keyhaven keys resume` confirms.)"),
            1,
        ),
        None => (
            step_name(rotation.step),
            format!(
                "{} (`keyhaven keys resume` confirms.)",
                rotation.instructions()
            ),
            1,
        ),
    };
    let new_key_id = match outcome {
        Some(GuidedOutcome::Completed { new_key_id, .. }) => Some(new_key_id.clone()),
        Some(GuidedOutcome::Waiting { rotation, .. }) => rotation.new_key_id.clone(),
        None => rotation.new_key_id.clone(),
    };
    Shown {
        rotation_id: rotation.id.clone(),
        account_id: rotation.account_id.clone(),
        old_key_id: rotation.old_key_id.clone(),
        new_key_id,
        state,
        message,
        exit,
    }
}

fn done(rotation: &GuidedRotation, outcome: Option<&GuidedOutcome>, json: bool) -> Done {
    let shown = shown(rotation, outcome);
    let stdout = if json {
        output::json(&shown)
    } else {
        format!("{}\n", shown.message)
    };
    Done {
        stdout,
        exit: shown.exit,
    }
}

fn step_name(step: GuidedStep) -> &'static str {
    match step {
        GuidedStep::NewKey | GuidedStep::Switching => "new_key",
        GuidedStep::DeleteOld => "delete_old",
    }
}

/// Runs (or goes on with) the guided rotation of one key, as far as standard input allows.
pub(crate) async fn rotate(
    core: &Keyhaven,
    account_id: &str,
    key_id: &str,
    unverified: bool,
    without_check: bool,
    json: bool,
) -> Result<Done, Error> {
    let mut rotation = core.rotation().begin_guided(account_id, key_id).await?;
    let mut lines = Lines::new();
    if rotation.step != GuidedStep::DeleteOld {
        eprintln!("1. {}", rotation.instructions());
        let secret = lines.read_as("new secret", "The new key's secret")?;
        rotation = core
            .rotation()
            .guided_new_key(&rotation.id, secret, unverified)
            .await?;
    }
    eprintln!("2. {}", rotation.instructions());
    if !lines.wait_for_enter("Press Enter once it is deleted.") {
        return Ok(done(&rotation, None, json));
    }
    let outcome = core
        .rotation()
        .guided_confirm_deleted(&rotation.id, without_check)
        .await?;
    Ok(done(&rotation, Some(&outcome), json))
}

/// `keys resume` for guided rotations: each one waiting for the old key's deletion is
/// confirmed; one waiting for its new key is named.
pub(crate) async fn resume(core: &Keyhaven) -> Result<Vec<Shown>, Error> {
    let mut all = Vec::new();
    for rotation in core.rotation().guided()? {
        let outcome = core
            .rotation()
            .guided_confirm_deleted(&rotation.id, false)
            .await?;
        all.push(shown(&rotation, Some(&outcome)));
    }
    Ok(all)
}
