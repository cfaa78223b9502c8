import { describe, expect, it } from "vitest";
import { checkUrl } from "./SignInForm";

describe("checkUrl", () => {
  it("accepts https anywhere and http on this computer only", () => {
    expect(checkUrl("https://keys.example.com")).toBeNull();
    expect(checkUrl("http://127.0.0.1:8787")).toBeNull();
    expect(checkUrl("http://localhost:8787")).toBeNull();
    expect(checkUrl("http://[::1]:8787")).toBeNull();
  });
  it("names the problem otherwise", () => {
    expect(checkUrl("")).toMatch(/Enter/);
    expect(checkUrl("keys.example.com")).toMatch(/not a URL/);
    expect(checkUrl("http://keys.example.com")).toMatch(/only allowed for this computer/);
    expect(checkUrl("ftp://keys.example.com")).toMatch(/https/);
  });
});
