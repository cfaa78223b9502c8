// Runs every IPC message of the window through keyhavenCheckIpc (check.js) before Tauri encrypts
// it for Rust. A message that fails the check is not dropped (the caller would wait forever): it
// is replaced by a call to `isolation_refused`, which answers with an error naming the command
// and the problem, and logs the refusal. The refused values are not passed on.
window.__TAURI_ISOLATION_HOOK__ = function (message) {
  var problem = keyhavenCheckIpc(message, KEYHAVEN_COMMANDS);
  if (problem === null) return message;
  var command = message && typeof message.cmd === "string" ? message.cmd.slice(0, 100) : "(none)";
  return {
    cmd: "isolation_refused",
    callback: message.callback,
    error: message.error,
    options: undefined,
    payload: { req: { command: command, problem: problem } },
  };
};
