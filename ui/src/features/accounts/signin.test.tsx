import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { SignInForm, TOKENKIT_URL } from "./SignInForm";

afterEach(() => {
  cleanup();
  clearMocks();
});

function renderForm(onDone: () => void = () => undefined) {
  const sent: { cmd: string; args: Record<string, unknown> }[] = [];
  mockIPC((cmd, args) => {
    sent.push({ cmd, args: args as Record<string, unknown> });
    return null;
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
});
