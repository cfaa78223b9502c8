import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { SignInForm } from "./SignInForm";
import { KINDS } from "../kinds/testing";

const TOKENKIT_URL = "https://api.tokenkithq.io";

afterEach(() => {
  cleanup();
  clearMocks();
});

function renderForm(onDone: () => void = () => undefined, answer: (cmd: string) => unknown = () => null) {
  const sent: { cmd: string; args: Record<string, unknown> }[] = [];
  mockIPC((cmd, args) => {
    if (cmd === "kinds") return KINDS;
    sent.push({ cmd, args: args as Record<string, unknown> });
    return answer(cmd);
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <SignInForm localUrl={null} onDone={onDone} />
    </QueryClientProvider>,
  );
  return sent;
}

describe("SignInForm", () => {
  it("signs in to a Keyhaven service with email and password only", async () => {
    const sent = renderForm();
    expect(screen.queryByLabelText("API key of this account")).toBeNull();
    fireEvent.change(screen.getByLabelText("Service URL"), { target: { value: "https://keys.example.com" } });
    fireEvent.change(screen.getByLabelText("Email"), { target: { value: "ann@example.com" } });
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "pw" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(sent.some((c) => c.cmd === "sign_in")).toBe(true));
    const req = sent.find((c) => c.cmd === "sign_in")?.args.req as Record<string, unknown>;
    expect(req).toEqual({ service: { kind: "url", url: "https://keys.example.com", allow_http: false }, email: "ann@example.com", password: "pw" });
  });

  it("for TokenKit offers its host, takes a user name and an API key of the account's", async () => {
    let done = false;
    const sent = renderForm(() => (done = true));
    await screen.findByRole("option", { name: "TokenKit" });
    fireEvent.change(screen.getByLabelText("Kind of service"), { target: { value: "tokenkit" } });
    expect((screen.getByLabelText("Service URL") as HTMLInputElement).value).toBe(TOKENKIT_URL);
    fireEvent.change(screen.getByLabelText("User name or email"), { target: { value: "ann" } });
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "pw" } });
    fireEvent.change(screen.getByLabelText("API key of this account"), { target: { value: "tk_dashboard" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(done).toBe(true));
    const req = sent.find((c) => c.cmd === "sign_in")?.args.req as Record<string, unknown>;
    expect(req).toEqual({
      service: { kind: "url", url: TOKENKIT_URL, allow_http: false },
      kind: "tokenkit",
      email: "ann",
      password: "pw",
      account_key: "tk_dashboard",
    });
    // Going back to a Keyhaven service gives the URL field back empty.
    fireEvent.change(screen.getByLabelText("Kind of service"), { target: { value: "native" } });
    expect((screen.getByLabelText("Service URL") as HTMLInputElement).value).toBe("");
  });

  it("adds an AniKura account with a name, its documented host and a plan, and no password", async () => {
    let done = false;
    const sent = renderForm(() => (done = true));
    await screen.findByRole("option", { name: "AniKura" });
    fireEvent.change(screen.getByLabelText("Kind of service"), { target: { value: "anikura" } });
    expect((screen.getByLabelText("Service URL") as HTMLInputElement).value).toBe("https://api.anikura.io");
    expect(screen.queryByLabelText("Password")).toBeNull();
    expect(screen.queryByLabelText("Email")).toBeNull();
    expect(screen.getByText(/made in AniKura's dashboard \(Settings → API Keys\)/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Account name"), { target: { value: " personal " } });
    fireEvent.change(screen.getByLabelText("Plan"), { target: { value: "indie" } });
    fireEvent.click(screen.getByRole("button", { name: "Add account" }));
    await waitFor(() => expect(done).toBe(true));
    expect(sent.find((c) => c.cmd === "add_account")?.args.req).toEqual({
      kind: "anikura",
      name: "personal",
      url: "https://api.anikura.io",
      allow_http: false,
      tier: "indie",
    });
    expect(sent.some((c) => c.cmd === "sign_in")).toBe(false);
  });

  it("offers each kind's host as it changes, keeps a typed URL, and has no plan but AniKura's", async () => {
    renderForm();
    await screen.findByRole("option", { name: "Ananke Labs" });
    const kinds = [...(screen.getByLabelText("Kind of service") as HTMLSelectElement).options].map((o) => o.textContent);
    expect(kinds).toEqual(["A Keyhaven key service", "TokenKit", "Animus", "AniKura", "Ananke Labs", "WaniKani", "Other service"]);
    const url = () => (screen.getByLabelText("Service URL") as HTMLInputElement).value;
    fireEvent.change(screen.getByLabelText("Kind of service"), { target: { value: "ananke" } });
    expect(url()).toBe("https://api.anankelabs.net");
    expect(screen.queryByLabelText("Plan")).toBeNull();
    fireEvent.change(screen.getByLabelText("Kind of service"), { target: { value: "wanikani" } });
    expect(url()).toBe("https://api.wanikani.com");
    fireEvent.change(screen.getByLabelText("Service URL"), { target: { value: "https://staging.example.com" } });
    fireEvent.change(screen.getByLabelText("Kind of service"), { target: { value: "generic" } });
    expect(url()).toBe("https://staging.example.com");
  });

  it("asks a generic account for its URL, and shows the core's complaint by the field it names", async () => {
    const sent = renderForm(undefined, (cmd) => {
      if (cmd === "add_account") throw { code: "validation", field: "name", message: "Invalid name: give the account a name of 1 to 64 characters" };
      return null;
    });
    await screen.findByRole("option", { name: "Other service" });
    fireEvent.change(screen.getByLabelText("Kind of service"), { target: { value: "generic" } });
    expect((screen.getByLabelText("Service URL") as HTMLInputElement).value).toBe("");
    fireEvent.change(screen.getByLabelText("Account name"), { target: { value: "x" } });
    fireEvent.click(screen.getByRole("button", { name: "Add account" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Enter the service's URL.");
    expect(sent.some((c) => c.cmd === "add_account")).toBe(false);
    fireEvent.change(screen.getByLabelText("Service URL"), { target: { value: "https://api.example.com" } });
    fireEvent.click(screen.getByRole("button", { name: "Add account" }));
    const name = screen.getByLabelText("Account name");
    await waitFor(() => expect(name.getAttribute("aria-invalid")).toBe("true"));
    expect(document.getElementById(name.getAttribute("aria-describedby") ?? "")?.textContent).toMatch(/^Invalid name: give the account a name/);
    expect(screen.queryByRole("alert")).toBeNull();
    expect(sent.find((c) => c.cmd === "add_account")?.args.req).toEqual({
      kind: "generic",
      name: "x",
      url: "https://api.example.com",
      allow_http: false,
    });
  });

  it("signs in to Animus with a name and a pasted session token it never writes into the page", async () => {
    const TOKEN = "eyJTESTxxxxNOTAREALTOKENxxxx.e30.sig";
    let answer: (cmd: string) => unknown = (cmd) => {
      if (cmd === "sign_in") throw { code: "validation", field: "session token", message: "Invalid session token: that is an API key" };
      return null;
    };
    let done = false;
    const sent = renderForm(() => (done = true), (cmd) => answer(cmd));
    await screen.findByRole("option", { name: "Animus" });
    fireEvent.change(screen.getByLabelText("Kind of service"), { target: { value: "animus" } });
    expect((screen.getByLabelText("Service URL") as HTMLInputElement).value).toBe("https://api.animus.so");
    expect(screen.queryByLabelText("Password")).toBeNull();
    expect(screen.queryByLabelText("Email")).toBeNull();
    const token = screen.getByLabelText("Session token") as HTMLInputElement;
    expect(token.type).toBe("password");
    // Nothing pasted yet: asked for, by the field, and nothing sent.
    fireEvent.change(screen.getByLabelText("Account name"), { target: { value: " work " } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(token.getAttribute("aria-invalid")).toBe("true"));
    expect(sent.some((c) => c.cmd === "sign_in")).toBe(false);
    fireEvent.change(token, { target: { value: TOKEN } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    // The core's complaint is shown by the token's field, not under the form.
    await waitFor(() =>
      expect(document.getElementById(token.getAttribute("aria-describedby") ?? "")?.textContent).toBe(
        "Invalid session token: that is an API key",
      ),
    );
    expect(screen.queryByRole("alert")).toBeNull();
    expect(document.body.innerHTML).not.toContain(TOKEN);
    answer = () => null;
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(done).toBe(true));
    expect(sent.filter((c) => c.cmd === "sign_in").slice(-1)[0]?.args.req).toEqual({
      service: { kind: "url", url: "https://api.animus.so", allow_http: false },
      kind: "animus",
      email: "work",
      password: TOKEN,
    });
    expect(token.value).toBe("");
    expect(document.body.innerHTML).not.toContain(TOKEN);
  });
});
