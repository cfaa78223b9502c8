import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ReactNode } from "react";
import type { Account, Capabilities, ConnectorKind, KeyCheck, KeyView } from "../../ipc";
import { KeyDetail } from "../keydetail/KeyDetail";
import { ROW_HEIGHT } from "../keys/KeyTable";
import { KeysView } from "../keys/KeysView";
import { meta } from "../keys/testing";
import { ImportKeyDialog } from "./ImportKeyDialog";
import { quotaText } from "./KeyCheckView";
import { KINDS } from "./testing";
import { suggestKinds } from "./useKinds";
import { newKeyPrefill } from "../deeplink/parse";

// Made up for these tests; recorded nowhere else.
const AK_SECRET = "ak_live_TESTxxxxNOTAREALKEYxxxx0123456789";
const OTHER_SECRET = "sk-TESTxxxxNOTAREALKEYxxxxabcdef";

function account(id: string, connector: ConnectorKind, email: string): Account {
  return {
    id,
    label: `${connector} · ${email}`,
    service: { kind: "url", url: "https://api.example.com", allow_http: false },
    email,
    user_id: "",
    role: "owner",
    tenant_id: `${connector}:${id}`,
    connector,
    created_at: "2026-01-01T00:00:00Z",
    remember_password: false,
  };
}

const ANIKURA = account("acc_ak", "anikura", "personal");
const ANANKE = account("acc_an", "ananke", "work");
const WANIKANI = account("acc_wk", "wanikani", "study");
const GENERIC = account("acc_gen", "generic", "weather");
const NATIVE = { ...account("acc_kh", "native", "ann@example.com"), service: { kind: "embedded" as const } };
const ACCOUNTS = [NATIVE, ANIKURA, ANANKE, WANIKANI, GENERIC];

/** What an account of a kind whose keys are imported can do (crates/core/src/connector/imported.rs). */
const LOCAL_CAPS = {
  get_key: true,
  create_key: false,
  revoke_key: false,
  ping: true,
  import_keys: true,
  local_keys: true,
  guided_rotation: true,
} as unknown as Capabilities;

/** What an Animus account can do (crates/core/src/connector/animus.rs): it lists keys, makes none. */
const ANIMUS_CAPS = {
  login: true,
  list_keys: true,
  get_key: true,
  update_key: true,
  revoke_key: true,
  ping: true,
  key_settings: true,
  key_scopes: true,
  import_keys: true,
  guided_rotation: true,
} as unknown as Capabilities;
const ANIMUS = account("acc_anm", "animus", "work");
const ANM_SECRET = "anm_TESTxxxxNOTAREALKEYxxxx0123456789";

type Call = { cmd: string; args: Record<string, unknown> };
let calls: Call[];
let client: QueryClient;
let answers: Record<string, (args: Record<string, unknown>) => unknown>;

function wrap(node: ReactNode) {
  return render(<QueryClientProvider client={client}>{node}</QueryClientProvider>);
}

const req = (cmd: string) => calls.find((c) => c.cmd === cmd)?.args.req as Record<string, unknown> | undefined;

// jsdom lays nothing out: give the keys table's scroll box room for a few rows.
const clientHeight = Object.getOwnPropertyDescriptor(HTMLElement.prototype, "clientHeight");
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, "clientHeight", {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains("table-scroll") ? 10 * ROW_HEIGHT : 0;
    },
  });
});
afterAll(() => {
  if (clientHeight) Object.defineProperty(HTMLElement.prototype, "clientHeight", clientHeight);
});

beforeEach(() => {
  calls = [];
  answers = {};
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: args as Record<string, unknown> });
    if (cmd === "kinds") return KINDS;
    const answer = answers[cmd];
    if (!answer) throw new Error(`unexpected command ${cmd}`);
    return answer(args as Record<string, unknown>);
  });
});

afterEach(() => {
  cleanup();
  clearMocks();
});

function importDialog(preferred = ANIKURA.id, onImported: (v: KeyView, a: Account) => void = () => undefined) {
  return wrap(
    <ImportKeyDialog accounts={ACCOUNTS} kinds={KINDS} preferredAccountId={preferred} onImported={onImported} onClose={() => undefined} />,
  );
}

function paste(secret: string) {
  fireEvent.change(screen.getByLabelText("Key"), { target: { value: secret } });
}

const imported = (name: string, check?: KeyCheck): KeyView => ({ meta: meta({ id: "imp_1", name, prefix: "ak_live_TEST" }), stored_locally: true, check });
const WORKS: KeyCheck = { at: "2026-01-01T00:00:00Z", verdict: "works", message: "Ananke Labs accepted the key." };

describe("suggestKinds", () => {
  it("names every kind whose documented prefix the key starts with, and none for the rest", () => {
    expect(suggestKinds(KINDS, `  ${AK_SECRET}`).map((k) => k.kind)).toEqual(["anikura", "ananke"]);
    expect(suggestKinds(KINDS, OTHER_SECRET)).toEqual([]);
    // Keyhaven's own keys are not imported here.
    expect(suggestKinds(KINDS, "kh_live_abc")).toEqual([]);
  });
});

describe("ImportKeyDialog", () => {
  it("asks which service an ak_live_ key is for, sends nothing until told, then offers only that service's accounts", async () => {
    let done: [KeyView, Account] | null = null;
    answers.import_key = () => imported("ci", WORKS);
    importDialog(ANIKURA.id, (v, a) => (done = [v, a]));
    expect(screen.getByTestId("key-page").textContent).toMatch(/AniKura keys are made in AniKura's dashboard \(Settings → API Keys\)/);
    paste(AK_SECRET);
    const which = screen.getByRole("group", { name: "Which service is this key for?" });
    expect(within(which).getAllByRole("radio").map((r) => r.parentElement?.textContent)).toEqual(["AniKura", "Ananke Labs"]);
    expect(within(which).getAllByRole("radio").some((r) => (r as HTMLInputElement).checked)).toBe(false);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "ci" } });
    fireEvent.click(screen.getByRole("button", { name: "Check and store" }));
    expect(await screen.findByText("Say which service this key is for: AniKura or Ananke Labs.")).toBeTruthy();
    expect(calls.some((c) => c.cmd === "import_key")).toBe(false);

    fireEvent.click(within(which).getByLabelText("Ananke Labs"));
    const accounts = [...(screen.getByLabelText("Account") as HTMLSelectElement).options].map((o) => o.textContent);
    expect(accounts).toEqual(["Ananke Labs · work"]);
    expect(screen.getByTestId("key-page").textContent).toMatch(/the Ananke Console/);
    fireEvent.click(screen.getByRole("button", { name: "Check and store" }));
    await waitFor(() => expect(done).not.toBeNull());
    expect(req("import_key")).toEqual({ account_id: ANANKE.id, secret: AK_SECRET, options: { name: "ci", scopes: [], unverified: false } });
    expect(done![1].id).toBe(ANANKE.id);
  });

  it("never writes the pasted key into the page, says plainly when the service refuses it, and keeps it out of every cache", async () => {
    answers.import_key = () => {
      throw { code: "unauthorized", message: "The service refused the API key: it is unknown, revoked or expired." };
    };
    importDialog(ANIKURA.id);
    paste(AK_SECRET);
    expect(document.body.innerHTML).not.toContain(AK_SECRET);
    expect((screen.getByLabelText("Key") as HTMLInputElement).type).toBe("password");
    fireEvent.click(screen.getByLabelText("AniKura"));
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "scraper" } });
    fireEvent.click(screen.getByRole("button", { name: "Check and store" }));
    expect((await screen.findByTestId("import-refused")).textContent).toBe(
      "AniKura refused this key: it is unknown there, was deleted or regenerated, or has expired. It was not stored.",
    );
    // Not the sign-in hint of an expired session: the account is fine, the key is not.
    expect(document.body.textContent).not.toMatch(/Sign in again/);
    expect(document.body.innerHTML).not.toContain(AK_SECRET);
    expect(JSON.stringify(client.getQueryCache().getAll().map((q) => q.state))).not.toContain(AK_SECRET);
    expect(JSON.stringify(client.getMutationCache().getAll().map((m) => m.state))).not.toContain(AK_SECRET);
  });

  it("shows the core's complaint by the field it names, and can store the key unchecked", async () => {
    let attempt = 0;
    answers.import_key = () => {
      attempt += 1;
      if (attempt === 1) {
        throw {
          code: "validation",
          field: "secret",
          message: "Invalid secret: could not be checked: AniKura could not be reached. Store it unverified to keep it anyway.",
        };
      }
      return imported("scraper");
    };
    importDialog(ANIKURA.id);
    paste(AK_SECRET);
    fireEvent.click(screen.getByLabelText("AniKura"));
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "scraper" } });
    fireEvent.click(screen.getByRole("button", { name: "Check and store" }));
    const key = screen.getByLabelText("Key");
    await waitFor(() => expect(key.getAttribute("aria-describedby")).toMatch(/problem/));
    expect(document.getElementById(key.getAttribute("aria-describedby") ?? "")?.textContent).toMatch(/could not be checked/);
    fireEvent.click(screen.getByRole("checkbox", { name: /Store without checking/ }));
    fireEvent.click(screen.getByRole("button", { name: "Store" }));
    await waitFor(() => expect(attempt).toBe(2));
    expect((calls.filter((c) => c.cmd === "import_key")[1].args.req as { options: { unverified: boolean } }).options.unverified).toBe(true);
  });

  it("needs a header for a generic key, and sends it with its prefix and check URL", async () => {
    answers.import_key = () => imported("weather");
    importDialog(GENERIC.id);
    paste(OTHER_SECRET);
    expect(screen.queryByRole("group", { name: "Which service is this key for?" })).toBeNull();
    fireEvent.change(screen.getByLabelText("Account"), { target: { value: GENERIC.id } });
    expect((screen.getByLabelText("Header") as HTMLInputElement).value).toBe("Authorization");
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "weather" } });
    fireEvent.change(screen.getByLabelText("Header"), { target: { value: " " } });
    fireEvent.click(screen.getByRole("button", { name: "Check and store" }));
    expect(await screen.findByText("Say which HTTP header the key is sent in, for example Authorization.")).toBeTruthy();
    expect(calls.some((c) => c.cmd === "import_key")).toBe(false);
    fireEvent.change(screen.getByLabelText("Header"), { target: { value: "X-API-Key" } });
    fireEvent.change(screen.getByLabelText("Value prefix"), { target: { value: "" } });
    fireEvent.change(screen.getByLabelText("Check URL (optional)"), { target: { value: "https://api.weather.test/v1/me" } });
    fireEvent.click(screen.getByRole("button", { name: "Check and store" }));
    await waitFor(() => expect(req("import_key")).toBeDefined());
    expect((req("import_key") as { options: unknown }).options).toEqual({
      name: "weather",
      scopes: [],
      unverified: false,
      presentation: { header: "X-API-Key", value_prefix: "", verify_url: "https://api.weather.test/v1/me" },
    });
  });

  it("takes a WaniKani token's permissions and expiry", async () => {
    answers.import_key = () => imported("anki sync");
    importDialog(WANIKANI.id);
    paste(OTHER_SECRET);
    expect(screen.queryByLabelText("Header")).toBeNull();
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "anki sync" } });
    fireEvent.change(screen.getByLabelText("Permissions"), { target: { value: "assignments:start, reviews:create," } });
    fireEvent.change(screen.getByLabelText("Expires"), { target: { value: "2099-01-31" } });
    fireEvent.click(screen.getByRole("button", { name: "Check and store" }));
    await waitFor(() => expect(req("import_key")).toBeDefined());
    const sent = req("import_key") as { account_id: string; options: Record<string, unknown> };
    expect(sent.account_id).toBe(WANIKANI.id);
    expect(sent.options.scopes).toEqual(["assignments:start", "reviews:create"]);
    expect(sent.options.expires_at).toMatch(/^2099-01-31T/);
  });
});

describe("keys of an account whose keys are imported", () => {
  const REFUSED: KeyCheck = {
    at: "2026-01-02T00:00:00Z",
    verdict: "refused",
    message: "AniKura refused the key (401): it was deleted in the dashboard or regenerated.",
  };

  beforeEach(() => {
    answers.guided_rotations = () => [];
    answers.key_capabilities = () => LOCAL_CAPS;
    answers.app_status = () => ({ accounts: ACCOUNTS });
    answers.list_keys = () => [
      imported("scraper", { ...WORKS, message: "AniKura accepted the key." }),
      { meta: meta({ id: "imp_2", name: "old bot", prefix: "ak_live_OLDK" }), stored_locally: true },
    ];
    answers.check_key = () => ({
      ...WORKS,
      message: "AniKura accepted the key.",
      quota: { remaining: 1998, limit: 2000, resets_at: "2026-01-03T00:00:00Z" },
    });
  });

  it("offers Import key and no New key, shows each key's last check, and checks one now with the quota left", async () => {
    wrap(<KeysView account={ANIKURA} scopes={[]} clipboardSeconds={30} />);
    await screen.findByRole("button", { name: "Import key" });
    expect(screen.queryByRole("button", { name: "New key" })).toBeNull();
    const header = [...document.querySelectorAll("th")].map((th) => th.textContent);
    expect(header).toContain("Last check");
    expect(header).not.toContain("Hourly limit");
    const rows = [...document.querySelectorAll("tr[data-key-id]")];
    expect(rows.map((r) => r.querySelector("[data-verdict]")?.textContent)).toEqual(["works", "not checked"]);
    expect(screen.queryByRole("button", { name: /^Revoke/ })).toBeNull();

    fireEvent.click(screen.getByRole("button", { name: "Check scraper now" }));
    await waitFor(() => expect(req("check_key")).toEqual({ account_id: ANIKURA.id, key_id: "imp_1" }));
    const note = await screen.findByText(/^scraper: AniKura accepted the key\./);
    expect(note.textContent).toMatch(/1,998 of 2,000 calls left today; resets/);
  });

  it("says where keys are made when there are none, and Ctrl+N opens Import key", async () => {
    answers.list_keys = () => [];
    wrap(<KeysView account={ANIKURA} scopes={[]} clipboardSeconds={30} />);
    expect((await screen.findByTestId("made-elsewhere")).textContent).toMatch(/Keys of AniKura are made in AniKura's dashboard \(Settings → API Keys\)/);
    await waitFor(() => expect(calls.some((c) => c.cmd === "kinds")).toBe(true));
    fireEvent.keyDown(document, { key: "n", ctrlKey: true });
    expect(await screen.findByRole("dialog", { name: "Import key" })).toBeTruthy();
  });

  it("opens Import key, with the link's name, for a keyhaven://new-key link", async () => {
    answers.list_keys = () => [];
    let taken = 0;
    wrap(
      <KeysView
        account={ANIKURA}
        scopes={[]}
        clipboardSeconds={30}
        linkRequest={newKeyPrefill({ name: "ci bot" })}
        onLinkTaken={() => taken++}
      />,
    );
    const dialog = await screen.findByRole("dialog", { name: "Import key" });
    expect((within(dialog).getByLabelText("Name") as HTMLInputElement).value).toBe("ci bot");
    expect(screen.queryByRole("dialog", { name: "New key" })).toBeNull();
    expect(taken).toBe(1);
  });

  it("removes a key from Keyhaven after its name is typed, and says it is deleted on the service's page", async () => {
    answers.forget_key = () => null;
    wrap(<KeysView account={ANIKURA} scopes={[]} clipboardSeconds={30} />);
    fireEvent.click(await screen.findByRole("button", { name: "Remove scraper from Keyhaven" }));
    const dialog = await screen.findByRole("dialog", { name: "Remove from Keyhaven" });
    expect(within(dialog).getByTestId("delete-there").textContent).toBe(
      "The key itself still works at AniKura: to stop it, delete it in AniKura's dashboard (Settings → API Keys).",
    );
    const remove = within(dialog).getByRole("button", { name: "Remove" }) as HTMLButtonElement;
    expect(remove.disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText("Type the key's name to confirm"), { target: { value: "scraper" } });
    fireEvent.click(remove);
    await waitFor(() => expect(req("forget_key")).toEqual({ account_id: ANIKURA.id, key_id: "imp_1" }));
    expect(await screen.findByText(/^Removed scraper from Keyhaven\. Delete it in AniKura's dashboard/)).toBeTruthy();
  });

  it("in the detail, checks the key now and shows a refused key as broken, with Remove in place of Revoke", async () => {
    answers.check_key = () => REFUSED;
    answers.get_key = () => meta({ id: "imp_1", name: "scraper", prefix: "ak_live_TEST" });
    answers.env_references = () => [];
    wrap(
      <KeyDetail account={ANIKURA} initial={meta({ id: "imp_1", name: "scraper" })} scopes={[]} onBack={() => undefined} onOpenKey={() => undefined} />,
    );
    const panel = await screen.findByTestId("key-check");
    await waitFor(() => expect(within(panel).getByText("works")).toBeTruthy());
    expect(screen.getByRole("button", { name: "Remove from Keyhaven" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Revoke" })).toBeNull();
    // Rotated by a guided rotation: make the new key on AniKura's page, paste it.
    await waitFor(() => expect((screen.getByRole("button", { name: "Rotate" }) as HTMLButtonElement).disabled).toBe(false));
    expect(screen.queryByRole("heading", { name: "Settings" })).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Check now" }));
    await waitFor(() => expect(screen.getByTestId("key-check").textContent).toMatch(/refused \(broken\)/));
    expect(screen.getByTestId("key-check").textContent).toMatch(/deleted in the dashboard or regenerated/);
  });
});

describe("Animus keys, made in the Animus app", () => {
  beforeEach(() => {
    answers.guided_rotations = () => [];
    answers.key_capabilities = (args) =>
      (args as { req: { account_id: string } }).req.account_id === ANIMUS.id ? ANIMUS_CAPS : ({ create_key: true, import_keys: true, list_keys: true } as unknown as Capabilities);
    answers.app_status = () => ({ accounts: [NATIVE, ANIMUS] });
    answers.list_keys = () => [];
  });

  it("offers Import key and no New key, and says keys are made in the Animus app", async () => {
    wrap(<KeysView account={ANIMUS} scopes={[]} clipboardSeconds={30} />);
    await screen.findByRole("button", { name: "Import key" });
    expect(screen.queryByRole("button", { name: "New key" })).toBeNull();
    expect((await screen.findByTestId("made-elsewhere")).textContent).toMatch(/Keys of Animus are made in the Animus app \(Integrations → API Keys\)/);
  });

  it("imports a pasted key by the name Animus lists it under, always checked", async () => {
    let done: [KeyView, Account] | null = null;
    answers.import_key = () => ({ meta: meta({ id: "k1", name: "blog bot", prefix: "anm_TEST" }), stored_locally: true });
    wrap(
      <ImportKeyDialog accounts={[NATIVE, ANIMUS]} kinds={KINDS} preferredAccountId={ANIMUS.id} onImported={(v, a) => (done = [v, a])} onClose={() => undefined} />,
    );
    await waitFor(() => expect(screen.getByTestId("key-page").textContent).toMatch(/^Animus keys are made in the Animus app/));
    paste(ANM_SECRET);
    // Keyhaven's own account makes its keys: only the Animus account is offered.
    expect([...(screen.getByLabelText("Account") as HTMLSelectElement).options].map((o) => o.textContent)).toEqual(["Animus · work"]);
    expect(screen.getByText(/name as Animus lists it: it says which listed key this secret is/)).toBeTruthy();
    expect(screen.queryByRole("checkbox", { name: /Store without checking/ })).toBeNull();
    fireEvent.change(screen.getByLabelText("Name in Animus"), { target: { value: "blog bot" } });
    fireEvent.click(screen.getByRole("button", { name: "Check and store" }));
    await waitFor(() => expect(done).not.toBeNull());
    expect(req("import_key")).toEqual({ account_id: ANIMUS.id, secret: ANM_SECRET, options: { name: "blog bot", scopes: [], unverified: false } });
    expect(document.body.innerHTML).not.toContain(ANM_SECRET);
  });
});

describe("quotaText", () => {
  it("says what is left of a capped day and when it starts again, or that there is no cap", () => {
    const now = new Date("2026-01-02T19:00:00Z");
    expect(quotaText({ remaining: 12, limit: 2000, resets_at: "2026-01-03T00:00:00Z" }, now)).toBe(
      "12 of 2,000 calls left today; resets in 5 hours (00:00 UTC).",
    );
    expect(quotaText({ remaining: null, limit: null, resets_at: "2026-01-03T00:00:00Z" }, now)).toBe(
      "No daily cap on this tier; the count resets in 5 hours (00:00 UTC).",
    );
  });
});
