// The isolation application (ui/isolation): the plain scripts Tauri runs in a sandboxed iframe
// between the window and Rust. Loaded here as text and run as the iframe runs them.
import { describe, expect, it } from "vitest";
import checkSource from "../isolation/check.js?raw";
import commandsSource from "../isolation/commands.js?raw";
import hookSource from "../isolation/hook.js?raw";

type Message = { cmd: unknown; callback?: number; error?: number; payload?: unknown; options?: unknown };
type Check = (message: unknown, commands: Record<string, string | null>) => string | null;

const commands = new Function(`${commandsSource}; return KEYHAVEN_COMMANDS;`)() as Record<string, string | null>;
// As the iframe loads them: commands.js (with KEYHAVEN_EVENTS) before check.js.
const check = new Function(`${commandsSource}; ${checkSource}; return keyhavenCheckIpc;`)() as Check;
const hook = (() => {
  const frame: { __TAURI_ISOLATION_HOOK__?: (m: Message) => Message } = {};
  new Function("window", "keyhavenCheckIpc", "KEYHAVEN_COMMANDS", hookSource)(frame, check, commands);
  return frame.__TAURI_ISOLATION_HOOK__!;
})();

const call = (cmd: string, payload?: unknown): Message => ({ cmd, callback: 1, error: 2, payload, options: undefined });

describe("the isolation application's command list", () => {
  it("is generated from src-tauri/ipc.rs and names each command's argument", () => {
    expect(commands.list_keys).toBe("req");
    expect(commands.app_status).toBeNull();
    expect(Object.isFrozen(commands)).toBe(true);
  });
});

describe("keyhavenCheckIpc", () => {
  it("lets through what the UI sends", () => {
    expect(check(call("app_status", {}), commands)).toBeNull();
    expect(check(call("app_status"), commands)).toBeNull();
    expect(check(call("list_keys", { req: { account_id: "acc_0123456789abcdef" } }), commands)).toBeNull();
    expect(
      check(
        call("create_key", {
          req: {
            account_id: "acc_1",
            name: "deploy bot",
            scopes: ["read", "write"],
            allowed_origins: ["https://app.example.com"],
            rate_limit_per_hour: 500,
            expires_at: undefined,
          },
        }),
        commands,
      ),
    ).toBeNull();
    expect(check(call("sign_in", { req: { service: { kind: "url", url: "https://keys.example.com" }, email: "a@b.c", password: "pw with spaces & ünïcode" } }), commands)).toBeNull();
    expect(check(call("plugin:event|listen", { event: "usage-watch", target: { kind: "Any" }, handler: 7 }), commands)).toBeNull();
    expect(check(call("plugin:event|unlisten", { event: "rotation-progress", eventId: 7 }), commands)).toBeNull();
    expect(check(call("plugin:deep-link|get_current", {}), commands)).toBeNull();
  });

  it("refuses a command the app does not declare, and plugins it does not use", () => {
    expect(check(call("plugin:shell|execute", { program: "sh" }), commands)).toMatch(/no command called "plugin:shell\|execute"/);
    expect(check(call("delete_everything", {}), commands)).toMatch(/no command called "delete_everything"/);
    expect(check(call("toString", {}), commands)).toMatch(/no command/);
    expect(check(call("__proto__", {}), commands)).toMatch(/no command/);
    expect(check(call("plugin:event|emit", { event: "usage-watch", payload: {} }), commands)).toMatch(/no command/);
    expect(check(call("plugin:event|listen", { event: "tauri://close-requested", target: { kind: "Any" }, handler: 1 }), commands)).toMatch(
      /does not listen to that event/,
    );
  });

  it("refuses missing, extra or misnamed arguments", () => {
    expect(check(call("list_keys", {}), commands)).toMatch(/unexpected arguments for list_keys \(it takes only req\)/);
    expect(check(call("list_keys", { req: { account_id: "acc_1" }, extra: 1 }), commands)).toMatch(/unexpected arguments/);
    expect(check(call("app_status", { req: {} }), commands)).toMatch(/it takes none/);
    expect(check(call("list_keys", { req: "acc_1" }), commands)).toBe("req is not an object");
    expect(check(call("list_keys", [1]), commands)).toBe("the arguments are not an object");
    expect(check({ payload: {} }, commands)).toBe("the message names no command");
  });

  it("refuses ids that no service issues", () => {
    expect(check(call("list_keys", { req: { account_id: "../../etc/passwd" } }), commands)).toBe("req.account_id is not a well-formed id");
    expect(check(call("revoke_key", { req: { account_id: "acc_1", key_id: "" } }), commands)).toBe("req.key_id is not a well-formed id");
    expect(check(call("revoke_key", { req: { account_id: "acc_1", key_id: 5 } }), commands)).toBe("req.key_id is not a well-formed id");
  });

  it("refuses values that are not plain, bounded JSON", () => {
    const deep = { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } };
    expect(check(call("save_settings", { req: deep }), commands)).toMatch(/nested too deeply/);
    expect(check(call("create_key", { req: { account_id: "acc_1", name: "x".repeat(20_000) } }), commands)).toMatch(
      /req.name is longer than 16384 characters/,
    );
    expect(check(call("create_key", { req: { account_id: "acc_1", scopes: new Array(1001).fill("read") } }), commands)).toMatch(
      /more than 1000 items/,
    );
    const big = Array.from({ length: 5 }, () => "y".repeat(15_000));
    expect(check(call("create_key", { req: { account_id: "acc_1", allowed_origins: big } }), commands)).toBe("the arguments are larger than 64 KiB");
    expect(check(call("create_key", { req: { account_id: "acc_1", name: "a\u0000b" } }), commands)).toBe("req.name holds a NUL character");
    expect(check(call("update_key", { req: { account_id: "acc_1", rate_limit: Number.NaN } }), commands)).toMatch(/not a finite number/);
    expect(check(call("update_key", { req: { account_id: "acc_1", when: new Date() } }), commands)).toMatch(/not plain JSON/);
    expect(check(call("update_key", { req: { account_id: "acc_1", "bad key": 1 } }), commands)).toMatch(/unexpected name/);
  });
});

describe("the isolation hook", () => {
  it("passes an allowed message on unchanged", () => {
    const m = call("list_keys", { req: { account_id: "acc_1" } });
    expect(hook(m)).toBe(m);
  });

  it("turns a refused message into a call that answers with the reason, dropping its values", () => {
    const m = call("list_keys", { req: { account_id: "../x", secret: "do-not-pass-on" } });
    const out = hook(m);
    expect(out.cmd).toBe("isolation_refused");
    expect(out.callback).toBe(1);
    expect(out.error).toBe(2);
    expect(out.payload).toEqual({ req: { command: "list_keys", problem: "req.account_id is not a well-formed id" } });
    expect(JSON.stringify(out)).not.toContain("do-not-pass-on");
  });
});
