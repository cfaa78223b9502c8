import { describe, expect, it } from "vitest";
import { checkUrl, isRemoteHttp } from "./SignInForm";

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

describe("the per-account http:// override", () => {
  it("is offered for plain http to another host only", () => {
    expect(isRemoteHttp("http://keys.internal:8080")).toBe(true);
    expect(isRemoteHttp("http://10.0.0.5")).toBe(true);
    expect(isRemoteHttp("http://127.0.0.1:8787")).toBe(false);
    expect(isRemoteHttp("http://LOCALHOST")).toBe(false);
    expect(isRemoteHttp("https://keys.example.com")).toBe(false);
    expect(isRemoteHttp("not a url")).toBe(false);
  });
  it("lets such a URL through once allowed, and nothing else", () => {
    expect(checkUrl("http://keys.internal:8080", true)).toBeNull();
    expect(checkUrl("http://keys.internal:8080", false)).toMatch(/allow unencrypted http/);
    expect(checkUrl("ftp://keys.internal", true)).toMatch(/https/);
  });
});
