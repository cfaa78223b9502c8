//! `keyhaven keys rotate` for keys of services Keyhaven cannot make keys on (AniKura, Ananke
//! Labs, WaniKani, generic): a guided rotation. The person makes the new key on the service's
//! page and pastes it (standard input, one line); Keyhaven checks, stores and switches to it;
//! then, once the old key is deleted there (Enter, or `keys resume` later), confirms that the
//! service refuses it. Instructions go to standard error, the outcome to standard output.

use keyhaven_core::{Error, GuidedOutcome, GuidedRotation, GuidedStep, Keyhaven};
use serde::Serialize;

use crate::profiles::Lines;
use crate::{output, Done};

/// What `--json` prints: where the rotation stands.
#[derive(Serialize)]
struct Shown<'a> {
    rotation_id: &'a str,
    account_id: &'a str,
    old_key_id: &'a str,
    new_key_id: Option<&'a str>,
    /// `completed`, or the step it waits at (`new_key`, `delete_old`).
    state: &'a str,
    message: &'a str,
}

fn done(rotation: &GuidedRotation, outcome: Option<&GuidedOutcome>, json: bool) -> Done {
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
        Some(GuidedOutcome::Completed { new_key_id, .. }) => Some(new_key_id.as_str()),
        Some(GuidedOutcome::Waiting { rotation, .. }) => rotation.new_key_id.as_deref(),
        None => rotation.new_key_id.as_deref(),
    };
    let stdout = if json {
        output::json(&Shown {
            rotation_id: &rotation.id,
            account_id: &rotation.account_id,
            old_key_id: &rotation.old_key_id,
            new_key_id,
            state,
            message: &message,
        })
    } else {
        format!("{message}\n")
    };
    Done { stdout, exit }
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
    let mut rotation = core.begin_guided_rotation(account_id, key_id).await?;
    let mut lines = Lines::new();
    if rotation.step != GuidedStep::DeleteOld {
        eprintln!("1. {}", rotation.instructions());
        let secret = lines.read_as("new secret", "The new key's secret")?;
        rotation = core
            .guided_new_key(&rotation.id, secret, unverified)
            .await?;
    }
    eprintln!("2. {}", rotation.instructions());
    if !lines.wait_for_enter("Press Enter once it is deleted.") {
        return Ok(done(&rotation, None, json));
    }
    let outcome = core
        .guided_confirm_deleted(&rotation.id, without_check)
        .await?;
    Ok(done(&rotation, Some(&outcome), json))
}

/// `keys resume` for guided rotations: each one waiting for the old key's deletion is
/// confirmed; one waiting for its new key is named.
pub(crate) async fn resume(core: &Keyhaven) -> Result<Vec<Done>, Error> {
    let mut all = Vec::new();
    for rotation in core.guided_rotations()? {
        let outcome = core.guided_confirm_deleted(&rotation.id, false).await?;
        all.push(done(&rotation, Some(&outcome), false));
    }
    Ok(all)
}
