import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import type { ReactNode } from "react";
import type {
  Account,
  Capabilities,
  EnvReference,
  GuidedRotation,
  GuidedView,
  KeyMeta,
  RotationProgress,
} from "../../ipc";
import { ROTATION_PROGRESS_EVENT } from "../../ipc/events";
import { meta } from "../keys/testing";
import { RevokeDialog } from "../keys/RevokeDialog";
import { EditKeyForm } from "./EditKeyForm";
import { KeyDetail } from "./KeyDetail";
import { RotateDialog } from "./RotateDialog";
import { allowed, rotation } from "./capabilities";
import { GuidedRotateDialog } from "./GuidedRotateDialog";
import { KINDS, kind } from "../kinds/testing";

type Call = { cmd: string; args: unknown };
let calls: Call[] = [];
let client: QueryClient;
let rotate: (() => Promise<unknown>) | null = null;
// What the service answers for the key detail's reads.
let keyAnswer: KeyMeta = meta();
let listed: KeyMeta[] = [];
let usageLastUsed: string | null = null;
let envReferences: EnvReference[] = [];
const CAPS = {
  update_key: true,
  create_key: true,
  revoke_key: true,
  roll_key: true,
  max_roll_grace_seconds: 604800,
  key_usage: true,
  denials: true,
  key_settings: true,
};
/** What a TokenKit account can do (crates/core/src/connector/tokenkit.rs). */
const TOKENKIT_CAPS = {
  login: true,
  list_keys: true,
  get_key: true,
  create_key: true,
  revoke_key: true,
  ping: true,
  allowed_origins: true,
  allowed_ips: true,
  rate_limit_per_hour: true,
};
let caps: Record<string, unknown> = CAPS;
let pendingGuided: GuidedView[] = [];
let guidedAnswers: Record<string, (args: { req: Record<string, unknown> }) => unknown> = {};
const ACCOUNT = { id: "a1", role: "owner" } as Account;

function wrap(node: ReactNode) {
  return render(<QueryClientProvider client={client}>{node}</QueryClientProvider>);
}

beforeEach(() => {
  calls = [];
  rotate = null;
  keyAnswer = meta();
  listed = [];
  usageLastUsed = null;
  envReferences = [];
  caps = CAPS;
  pendingGuided = [];
  guidedAnswers = {};
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  mockIPC(
    (cmd, args) => {
      calls.push({ cmd, args });
      switch (cmd) {
        case "update_key": {
          const req = (args as { req: { scopes?: string[] } }).req;
          return meta({ scopes: req.scopes ?? ["read"] });
        }
        case "list_keys":
          return listed.map((m) => ({ meta: m, stored_locally: true }));
        case "rotate_key":
          return rotate ? rotate() : null;
        case "get_key": {
          const id = (args as { req: { key_id: string } }).req.key_id;
          return listed.find((m) => m.id === id) ?? keyAnswer;
        }
        case "key_capabilities":
          return caps;
        case "key_usage":
          return { key_id: keyAnswer.id, last_used_at: usageLastUsed, series: [] };
        case "key_denials":
          return [];
        case "env_references":
          return envReferences;
        case "kinds":
          return KINDS;
        case "guided_rotations":
          return pendingGuided;
        case "begin_guided_rotation":
        case "guided_new_key":
        case "guided_confirm_deleted":
        case "cancel_guided_rotation": {
          const answer = guidedAnswers[cmd];
          if (!answer) throw new Error(`unexpected command ${cmd}`);
          return answer(args as { req: Record<string, unknown> });
        }
        default:
          throw new Error(`unexpected command ${cmd}`);
      }
    },
    { shouldMockEvents: true },
  );
});

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("EditKeyForm", () => {
  it("shows only the settings the service's keys can carry (Animus: name and scopes)", () => {
    const animus = {
      update_key: true,
      key_settings: true,
      key_scopes: true,
      allowed_origins: false,
      allowed_ips: false,
      rate_limit_per_hour: false,
      key_expiry: false,
    } as unknown as Capabilities;
    wrap(<EditKeyForm accountId="a1" meta={meta()} scopes={["read", "write", "search"]} caps={animus} />);
    expect(screen.getByLabelText("Name")).toBeTruthy();
    expect(screen.getByText("Scopes")).toBeTruthy();
    for (const absent of ["Allowed origins", "Allowed IPs", "Hourly limit", "Expires"]) {
      expect(screen.queryByLabelText(absent)).toBeNull();
    }
  });


  it("checks each field as it is typed and sends nothing while one is wrong", async () => {
    wrap(<EditKeyForm accountId="a1" meta={meta()} scopes={["read", "write"]} />);
    const save = screen.getByRole("button", { name: "Save" }) as HTMLButtonElement;
    expect(save.disabled).toBe(true); // nothing changed yet
    fireEvent.change(screen.getByLabelText("Allowed origins"), { target: { value: "app.example.com" } });
    expect(await screen.findByText(/“app.example.com” has no scheme/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Hourly limit"), { target: { value: "0" } });
    expect(await screen.findByText(/at least 1/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "  " } });
    expect(await screen.findByText("Give the key a name.")).toBeTruthy();
    fireEvent.click(save);
    expect(calls.filter((c) => c.cmd === "update_key")).toHaveLength(0);
  });

  it("sends only what changed, and says the secret stayed", async () => {
    wrap(<EditKeyForm accountId="a1" meta={meta({ rate_limit_per_hour: 100 })} scopes={["read", "write"]} />);
    fireEvent.click(screen.getByLabelText("write"));
    fireEvent.change(screen.getByLabelText("Hourly limit"), { target: { value: "" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Saved. The secret did not change.")).toBeTruthy();
    const sent = calls.filter((c) => c.cmd === "update_key").map((c) => (c.args as { req: unknown }).req);
    expect(sent).toEqual([{ scopes: ["read", "write"], rate_limit_per_hour: { value: null }, account_id: "a1", key_id: "key_1" }]);
  });

  it("is read-only with the reason when the account cannot change keys", () => {
    wrap(<EditKeyForm accountId="a1" meta={meta()} scopes={["read"]} disabledReason="This account (support) cannot change keys on its service." />);
    expect(screen.getByText(/support\) cannot change keys/)).toBeTruthy();
    // A disabled fieldset disables every control in it.
    expect(screen.getByLabelText("Name").matches(":disabled")).toBe(true);
    expect((screen.getByRole("button", { name: "Save" }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe("capabilities", () => {
  const account = { id: "a1", role: "support" } as never;
  it("disables rotate, revoke and edit for a read-only role, with the reason", () => {
    const none = { update_key: false, create_key: false, revoke_key: false, roll_key: false } as never;
    const can = allowed(account, none, meta());
    expect(can.rotate).toEqual({ ok: false, reason: "This account (support) cannot rotate keys on its service." });
    expect(can.revoke.ok).toBe(false);
    expect(can.edit.ok).toBe(false);
  });

  it("says what TokenKit cannot do, and where it is done", () => {
    const tokenkit = { id: "a2", role: "owner", connector: "tokenkit" } as Account;
    const can = allowed(tokenkit, TOKENKIT_CAPS as never, meta(), kind("tokenkit"));
    expect(can.edit).toEqual({ ok: false, reason: "TokenKit cannot change keys: make a new one with the settings you want." });
    // A twin: a new key with the old one's settings; the core refuses keys it did not make.
    expect(can.rotate.ok).toBe(true);
    expect(rotation(TOKENKIT_CAPS as never)).toBe("twin");
    expect(rotation(CAPS as never)).toBe("roll");
    expect(rotation({ guided_rotation: true, local_keys: true } as never)).toBe("guided");
    expect(rotation({ create_key: false, revoke_key: true } as never)).toBeNull();
    expect(can.revoke.ok).toBe(true);
  });

  it("sends changes and rotations of a replaced key to its replacement, and still lets it be revoked", () => {
    const can = allowed(ACCOUNT, CAPS as never, meta({ status: "expiring", replaced_by: "key_2" }));
    expect(can.rotate.ok).toBe(false);
    expect(can.rotate.reason).toMatch(/replaced this key/);
    expect(can.edit.ok).toBe(false);
    expect(can.revoke.ok).toBe(true);
    expect(allowed(ACCOUNT, CAPS as never, meta({ replaces: "key_0" })).rotate.ok).toBe(true);
  });
});

describe("KeyDetail", () => {
  const renderDetail = (initial: KeyMeta, onOpenKey: (m: KeyMeta) => void = () => undefined) =>
    wrap(<KeyDetail account={ACCOUNT} initial={initial} scopes={["read"]} onBack={() => undefined} onOpenKey={onOpenKey} />);

  it("follows the new key once a rotation is done", async () => {
    const opened: KeyMeta[] = [];
    const fresh = meta({ id: "key_2", prefix: "kh_live_NEWK", replaces: "key_1" });
    rotate = async () => ({
      outcome: "completed",
      rotation_id: "r1",
      account_id: "a1",
      old_key_id: "key_1",
      new_key: fresh,
      method: "roll",
      old_key_expires_at: null,
    });
    renderDetail(meta(), (m) => opened.push(m));
    const rotateButton = await screen.findByRole("button", { name: "Rotate" });
    await waitFor(() => expect((rotateButton as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(rotateButton);
    fireEvent.click(screen.getByLabelText("None"));
    fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Rotate" }));
    fireEvent.click(await screen.findByRole("button", { name: "Done" }));
    expect(opened).toEqual([fresh]);
  });

  it("says which key replaced a retired one and opens it", async () => {
    const opened: KeyMeta[] = [];
    const fresh = meta({ id: "key_2", prefix: "kh_live_NEWK", replaces: "key_1" });
    listed = [fresh];
    keyAnswer = meta({ status: "revoked", replaced_by: "key_2", revoked_at: "2030-01-01T00:00:00Z" });
    renderDetail(meta(), (m) => opened.push(m));
    const note = await screen.findByText(/A rotation replaced this key with/);
    await waitFor(() => expect(note.textContent).toContain("kh_live_NEWK…"));
    expect(note.textContent).toContain("This one no longer works.");
    fireEvent.click(within(note).getByRole("button"));
    expect(opened).toEqual([fresh]);
    // Nothing left to do to a revoked key.
    expect((screen.getByRole("button", { name: "Revoke" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("shows the later of the key's and its usage's last use, and reads all three again on Refresh", async () => {
    usageLastUsed = new Date(Date.now() - 5_000).toISOString();
    renderDetail(meta({ last_used_at: null }));
    await waitFor(() => expect(screen.getByTestId("last-used").textContent).toBe("last used just now"));
    expect(await screen.findByTestId("usage-as-of")).toBeTruthy();
    const reads = () => calls.filter((c) => ["get_key", "key_usage", "key_denials", "env_references"].includes(c.cmd)).length;
    const before = reads();
    fireEvent.click(screen.getByRole("button", { name: "Refresh" }));
    await waitFor(() => expect(reads()).toBe(before + 4));
  });

  it("asks a TokenKit account for no usage or denials, and says where settings are seen", async () => {
    caps = TOKENKIT_CAPS;
    const tokenkit = { id: "a2", role: "owner", connector: "tokenkit" } as Account;
    wrap(<KeyDetail account={tokenkit} initial={meta({ prefix: "" })} scopes={[]} onBack={() => undefined} onOpenKey={() => undefined} />);
    await waitFor(() =>
      expect(screen.getByTestId("no-usage").textContent).toMatch(
        /TokenKit does not report a key's calls or refused calls; see TokenKit's dashboard \(Settings → API Keys\)/,
      ),
    );
    expect(screen.getByTestId("settings-elsewhere").textContent).toMatch(/TokenKit does not say a key's origins/);
    expect(screen.queryByRole("heading", { name: "Recent denials" })).toBeNull();
    expect(screen.queryByRole("textbox", { name: "Name" })).toBeNull();
    await waitFor(() => expect((screen.getByRole("button", { name: "Rotate" }) as HTMLButtonElement).disabled).toBe(false));
    await waitFor(() => expect(calls.some((c) => c.cmd === "env_references")).toBe(true));
    expect(calls.filter((c) => ["key_usage", "key_denials"].includes(c.cmd))).toEqual([]);
  });

  it("lists the env files that reference the key, and says when there is none", async () => {
    renderDetail(meta());
    expect(await screen.findByText(/No env file is known to reference this key/)).toBeTruthy();
    cleanup();
    const seen = new Date(Date.now() - 3 * 3600_000).toISOString();
    envReferences = [
      { path: "/srv/app/.env", variable: "BILLING_KEY", line: 2, seen_at: seen, exists: true },
      { path: "/srv/old/.env", variable: "API_KEY", line: 7, seen_at: seen, exists: false },
    ];
    renderDetail(meta());
    const table = await screen.findByRole("table", { name: "Env files that reference this key" });
    const rows = within(table)
      .getAllByRole("row")
      .slice(1)
      .map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent));
    expect(rows).toEqual([
      ["/srv/app/.env:2", "BILLING_KEY", "3 hours ago"],
      ["/srv/old/.env:7 missing", "API_KEY", "3 hours ago"],
    ]);
    const asked = calls.find((c) => c.cmd === "env_references")?.args as { req: { account_id: string; key: KeyMeta } };
    expect(asked.req.account_id).toBe("a1");
    expect(asked.req.key.id).toBe("key_1");
  });
});

describe("RevokeDialog of a replaced key", () => {
  it("says that the old secret's grace ends and the new key stays", async () => {
    listed = [meta({ id: "key_2", prefix: "kh_live_NEWK" })];
    wrap(<RevokeDialog accountId="a1" meta={meta({ status: "expiring", replaced_by: "key_2" })} onClose={() => undefined} />);
    const text = await screen.findByTestId("revoke-replaced");
    await waitFor(() => expect(text.textContent).toContain("The new key kh_live_NEWK… stays active"));
    expect(text.textContent).toContain("ends the grace period");
    expect(screen.getByRole("button", { name: "Revoke old key" })).toBeTruthy();
  });
});

describe("RotateDialog", () => {
  const progress = (step: RotationProgress["step"], status: RotationProgress["status"], message: string): RotationProgress => ({
    rotation_id: "r1",
    account_id: "a1",
    old_key_id: "key_1",
    new_key_id: null,
    step,
    status,
    message,
  });

  it("sends the grace chosen and shows each step as the core reports it, then the outcome", async () => {
    let finish: (v: unknown) => void = () => undefined;
    rotate = () => new Promise((resolve) => (finish = resolve));
    wrap(<RotateDialog accountId="a1" meta={meta()} onClose={() => undefined} />);
    fireEvent.click(screen.getByLabelText("24 hours"));
    fireEvent.click(screen.getByRole("button", { name: "Rotate" }));
    await waitFor(() => expect(calls.some((c) => c.cmd === "rotate_key")).toBe(true));
    expect((calls.find((c) => c.cmd === "rotate_key")?.args as { req: unknown }).req).toEqual({
      account_id: "a1",
      key_id: "key_1",
      grace: "24h",
    });
    expect(screen.getByRole("button", { name: "Rotating…" })).toBeTruthy();

    await act(() => emit(ROTATION_PROGRESS_EVENT, progress("prepare", "started", "Check the key and the keychain")));
    await act(() => emit(ROTATION_PROGRESS_EVENT, progress("prepare", "done", "Check the key and the keychain")));
    await act(() => emit(ROTATION_PROGRESS_EVENT, progress("create", "started", "Create the replacement key")));
    // Another key's rotation is not this dialog's.
    await act(() => emit(ROTATION_PROGRESS_EVENT, { ...progress("store", "started", "elsewhere"), old_key_id: "key_9" }));
    const steps = () => [...document.querySelectorAll("ol.steps li")].map((li) => `${li.getAttribute("data-step")}:${li.getAttribute("data-status")}`);
    await waitFor(() => expect(steps()).toEqual(["prepare:done", "create:started"]));
    expect(screen.getByText("Create the replacement key")).toBeTruthy();
    await act(() => emit(ROTATION_PROGRESS_EVENT, progress("create", "failed", "the service is unreachable")));
    await waitFor(() => expect(steps()).toEqual(["prepare:done", "create:failed"]));
    expect(screen.getByText("the service is unreachable")).toBeTruthy();

    await act(async () =>
      finish({
        outcome: "completed",
        rotation_id: "r1",
        account_id: "a1",
        old_key_id: "key_1",
        new_key: meta({ id: "key_2", prefix: "kh_live_NEWK" }),
        method: "replace",
        old_key_expires_at: "2030-01-02T00:00:00Z",
      }),
    );
    const outcome = await screen.findByRole("status");
    expect(outcome.textContent).toContain("kh_live_NEWK");
    expect(outcome.textContent).toContain("keeps working until");
    expect(screen.getByRole("button", { name: "Done" })).toBeTruthy();
  });
});

describe("RotateDialog for TokenKit (a twin)", () => {
  it("offers no grace period, sends none, and shows the core's refusal of a key made elsewhere", async () => {
    rotate = () =>
      Promise.reject({
        code: "forbidden",
        message: "this service does not say a key's origins, IPs or hourly limit, and this key was not made with Keyhaven",
      });
    wrap(<RotateDialog accountId="a2" meta={meta()} mode="twin" service="TokenKit" onClose={() => undefined} />);
    expect(screen.queryByRole("group", { name: "Old key keeps working for" })).toBeNull();
    expect(screen.queryByLabelText("24 hours")).toBeNull();
    expect(screen.getByTestId("twin-explained").textContent).toMatch(/new TokenKit key with the same name, origins, IPs and hourly limit/);
    fireEvent.click(screen.getByRole("button", { name: "Rotate" }));
    await waitFor(() => expect(calls.some((c) => c.cmd === "rotate_key")).toBe(true));
    expect((calls.find((c) => c.cmd === "rotate_key")?.args as { req: unknown }).req).toEqual({
      account_id: "a2",
      key_id: "key_1",
      grace: "none",
    });
    expect((await screen.findByRole("alert")).textContent).toMatch(/this key was not made with Keyhaven/);
  });
});

describe("GuidedRotateDialog", () => {
  const WANIKANI = { id: "acc_wk", role: "owner", connector: "wanikani" } as Account;
  const NEW_TOKEN = "wk-TESTxxxxNOTAREALTOKENxxxx-new";
  const journal = (over: Partial<GuidedRotation> = {}): GuidedRotation => ({
    version: 1,
    id: "grot_0000000000000001",
    account_id: "acc_wk",
    old_key_id: "imp_old",
    old_key_name: "study script",
    old_key_prefix: "1234",
    new_key_id: null,
    step: "new_key",
    service: "WaniKani",
    key_page: "WaniKani's settings (API Tokens)",
    listed: false,
    known_key_ids: [],
    started_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...over,
  });
  const view = (r: GuidedRotation): GuidedView => ({ rotation: r, instructions: `instructions at ${r.step}` });
  const old = meta({ id: "imp_old", name: "study script", prefix: "1234" });
  const sent = (cmd: string) => calls.filter((c) => c.cmd === cmd).map((c) => (c.args as { req: unknown }).req);

  it("takes the pasted new key, then completes only once the old one is refused", async () => {
    let refused = false;
    guidedAnswers.begin_guided_rotation = () => view(journal());
    guidedAnswers.guided_new_key = ({ req }) => {
      if (req.secret !== NEW_TOKEN) throw { code: "validation", field: "secret", message: "Invalid secret: is the old key" };
      return view(journal({ step: "delete_old", new_key_id: "imp_new" }));
    };
    guidedAnswers.guided_confirm_deleted = () =>
      refused
        ? { outcome: "completed", rotation_id: "grot_0000000000000001", account_id: "acc_wk", old_key_id: "imp_old", new_key_id: "imp_new" }
        : { outcome: "waiting", rotation: journal({ step: "delete_old", new_key_id: "imp_new" }), message: "WaniKani still accepts the old key (1234…)." };
    let completed: string | null = null;
    wrap(<GuidedRotateDialog accountId="acc_wk" meta={old} kind={kind("wanikani")} onClose={() => undefined} onCompleted={(id) => (completed = id)} />);
    expect(await screen.findByText("instructions at new_key")).toBeTruthy();
    expect(sent("begin_guided_rotation")).toEqual([{ account_id: "acc_wk", key_id: "imp_old" }]);
    const field = screen.getByLabelText("New key") as HTMLInputElement;
    expect(field.type).toBe("password");
    // Nothing pasted: asked for, nothing sent.
    fireEvent.click(screen.getByRole("button", { name: "Check and switch" }));
    await waitFor(() => expect(field.getAttribute("aria-invalid")).toBe("true"));
    expect(sent("guided_new_key")).toEqual([]);
    // The core's complaint about the secret is shown by the field.
    fireEvent.change(field, { target: { value: "the old one" } });
    fireEvent.click(screen.getByRole("button", { name: "Check and switch" }));
    await waitFor(() =>
      expect(document.getElementById(field.getAttribute("aria-describedby") ?? "")?.textContent).toBe("Invalid secret: is the old key"),
    );
    fireEvent.change(field, { target: { value: NEW_TOKEN } });
    fireEvent.click(screen.getByRole("button", { name: "Check and switch" }));
    expect(await screen.findByText("instructions at delete_old")).toBeTruthy();
    expect(sent("guided_new_key").slice(-1)[0]).toEqual({ rotation_id: "grot_0000000000000001", secret: NEW_TOKEN, unverified: false });
    expect(document.body.innerHTML).not.toContain(NEW_TOKEN);
    expect(client.getQueryCache().getAll().some((q) => JSON.stringify(q.state.data ?? null).includes(NEW_TOKEN))).toBe(false);
    // The old key still works: the rotation waits, saying why.
    fireEvent.click(screen.getByRole("button", { name: "I deleted the old key — confirm" }));
    expect((await screen.findByText(/still accepts the old key/)).getAttribute("data-outcome")).toBe("waiting");
    refused = true;
    fireEvent.click(screen.getByRole("button", { name: "I deleted the old key — confirm" }));
    expect((await screen.findByText(/^Rotated\./)).textContent).toMatch(/WaniKani refuses the old key/);
    expect(sent("guided_confirm_deleted")).toEqual([
      { rotation_id: "grot_0000000000000001", without_check: false },
      { rotation_id: "grot_0000000000000001", without_check: false },
    ]);
    fireEvent.click(screen.getByRole("button", { name: "Done" }));
    expect(completed).toBe("imp_new");
  });

  it("can store the new key unchecked, says what Cancel leaves, and for Animus revokes the old key itself", async () => {
    guidedAnswers.begin_guided_rotation = () => view(journal());
    guidedAnswers.guided_new_key = () => view(journal({ step: "delete_old", new_key_id: "imp_new" }));
    guidedAnswers.cancel_guided_rotation = () => journal({ step: "delete_old", new_key_id: "imp_new" });
    wrap(<GuidedRotateDialog accountId="acc_wk" meta={old} kind={kind("wanikani")} onClose={() => undefined} />);
    expect((await screen.findByTestId("what-stays")).textContent).toMatch(/nothing changes, the old key stays in use/);
    fireEvent.click(screen.getByLabelText(/Store without checking/));
    fireEvent.change(screen.getByLabelText("New key"), { target: { value: NEW_TOKEN } });
    fireEvent.click(screen.getByRole("button", { name: "Store and switch" }));
    expect(await screen.findByText("instructions at delete_old")).toBeTruthy();
    expect(sent("guided_new_key")).toEqual([{ rotation_id: "grot_0000000000000001", secret: NEW_TOKEN, unverified: true }]);
    expect(screen.getByTestId("what-stays").textContent).toMatch(/the new key stays in use, and the old one stays in Keyhaven/);
    fireEvent.click(screen.getByRole("button", { name: "Cancel rotation" }));
    expect((await screen.findByText(/^Rotation stopped\./)).textContent).toMatch(/old key \(1234…\) stays in Keyhaven/);
    cleanup();

    calls = [];
    const animus = { ...journal({ listed: true, service: "Animus", key_page: "the Animus app (Integrations → API Keys)" }) };
    guidedAnswers.begin_guided_rotation = () => view({ ...animus, step: "delete_old", new_key_id: "k2" });
    guidedAnswers.guided_confirm_deleted = () => ({ outcome: "completed", rotation_id: animus.id, account_id: "acc_wk", old_key_id: "imp_old", new_key_id: "k2" });
    wrap(<GuidedRotateDialog accountId="acc_wk" meta={old} kind={kind("animus")} onClose={() => undefined} />);
    fireEvent.click(await screen.findByRole("button", { name: "Revoke the old key" }));
    expect((await screen.findByText(/^Rotated\./)).textContent).toMatch(/the old key is revoked on Animus/);
  });

  it("shows a guided rotation left in progress on the key's detail, to continue", async () => {
    caps = { guided_rotation: true, local_keys: true, import_keys: true, ping: true };
    pendingGuided = [view(journal({ step: "delete_old", new_key_id: "imp_new" }))];
    guidedAnswers.begin_guided_rotation = () => pendingGuided[0];
    keyAnswer = old;
    wrap(<KeyDetail account={WANIKANI} initial={old} scopes={[]} onBack={() => undefined} onOpenKey={() => undefined} />);
    const note = await screen.findByTestId("guided-pending");
    expect(note.textContent).toMatch(/Rotation in progress: the new key is in use; delete this one in WaniKani's settings/);
    fireEvent.click(within(note).getByRole("button", { name: "Continue rotation" }));
    const dialog = await screen.findByRole("dialog", { name: "Rotate key" });
    expect(await within(dialog).findByRole("button", { name: "I deleted the old key — confirm" })).toBeTruthy();
  });
});
