import { describe, expect, it } from "vitest";
import { MAX_LINK_CHARS, linkAccount, newKeyPrefill, parseDeepLink } from "./parse";

const OFFERED = ["read", "write", "search"];

describe("parseDeepLink", () => {
  it("reads a new-key link's name and scopes", () => {
    expect(parseDeepLink("keyhaven://new-key?name=deploy%20bot&scopes=read,write", OFFERED)).toEqual({
      kind: "new-key",
      prefill: newKeyPrefill({ name: "deploy bot", scopes: ["read", "write"] }),
    });
  });

  it("accepts the other spellings of the same link", () => {
    for (const url of [
      "keyhaven://new-key/?name=ci+bot&scopes=read",
      "keyhaven:new-key?name=ci%20bot&scopes=read",
      "keyhaven://new-key?name=ci%20bot&scopes=read&scopes=read",
      "keyhaven://new-key?name=%20ci%20bot%20&scopes=%20read%20",
    ]) {
      expect(parseDeepLink(url, OFFERED), url).toEqual({
        kind: "new-key",
        prefill: newKeyPrefill({ name: "ci bot", scopes: ["read"] }),
      });
    }
  });

  it("leaves out what the link does not give", () => {
    expect(parseDeepLink("keyhaven://new-key", OFFERED)).toEqual({
      kind: "new-key",
      prefill: newKeyPrefill(),
    });
  });

  it("reports scopes the service does not offer and selects only the offered ones", () => {
    const link = parseDeepLink("keyhaven://new-key?name=x&scopes=read,admin,delete", OFFERED);
    expect(link.kind).toBe("new-key");
    if (link.kind !== "new-key") return;
    expect(link.prefill.scopes).toEqual(["read"]);
    expect(link.prefill.problems).toEqual([
      "The link asks for scopes this service does not offer, not selected: “admin”, “delete”. Offered: read, write, search.",
    ]);
  });

  it("refuses a name over 100 characters, or with control characters, and fills in none", () => {
    const long = parseDeepLink(`keyhaven://new-key?name=${"n".repeat(101)}&scopes=read`, OFFERED);
    expect(long).toEqual({
      kind: "new-key",
      prefill: newKeyPrefill({
        scopes: ["read"],
        problems: ["The name in the link is 101 characters long (at most 100); it was not filled in."],
      }),
    });
    const control = parseDeepLink("keyhaven://new-key?name=a%0Ab", OFFERED);
    expect(control.kind === "new-key" && control.prefill.name).toBe("");
    expect(control.kind === "new-key" && control.prefill.problems[0]).toMatch(/control character/);
    const twice = parseDeepLink("keyhaven://new-key?name=a&name=b", OFFERED);
    expect(twice.kind === "new-key" && twice.prefill).toEqual(
      newKeyPrefill({ problems: ["The link names the key more than once; no name was filled in."] }),
    );
  });

  it("ignores and reports parameters it does not use", () => {
    const link = parseDeepLink("keyhaven://new-key?name=x&create=1&secret=abc&create=2", OFFERED);
    expect(link.kind === "new-key" && link.prefill).toEqual(
      newKeyPrefill({ name: "x", problems: ["The link has parameters Keyhaven does not use, ignored: “create”, “secret”."] }),
    );
  });

  it("refuses links it does not understand", () => {
    expect(parseDeepLink("keyhaven://delete-key?id=1", OFFERED)).toEqual({
      kind: "invalid",
      problem: "Keyhaven does not know what to do with “delete-key”; it understands keyhaven://new-key.",
    });
    expect(parseDeepLink("keyhaven://new-key/extra?name=x", OFFERED).kind).toBe("invalid");
    expect(parseDeepLink("https://new-key?name=x", OFFERED)).toEqual({
      kind: "invalid",
      problem: "The link is not a keyhaven:// link (it starts with “https:”).",
    });
    expect(parseDeepLink("not a url", OFFERED)).toEqual({ kind: "invalid", problem: "The link is not a valid URL." });
    expect(parseDeepLink(`keyhaven://new-key?name=${"x".repeat(MAX_LINK_CHARS)}`, OFFERED)).toEqual({
      kind: "invalid",
      problem: `The link is ${MAX_LINK_CHARS + 24} characters long; Keyhaven reads links of at most ${MAX_LINK_CHARS}.`,
    });
  });

  it("quotes hostile text shortened and without control characters", () => {
    const link = parseDeepLink(`keyhaven://new-key?scopes=${"%1B[31m".repeat(3)}${"z".repeat(60)}`, OFFERED);
    expect(link.kind).toBe("new-key");
    if (link.kind !== "new-key") return;
    const [problem] = link.prefill.problems;
    expect(problem).not.toMatch(/\u001b/);
    expect(problem).toMatch(/“\[31m\[31m\[31mz+…”/);
  });

  it("reads the account or kind, expiry, origins, IPs, hourly limit and who is asking", () => {
    const link = parseDeepLink(
      "keyhaven://new-key?name=review%20bot&kind=WaniKani&expires=2099-01-31&origins=https://app.example.com,%20http://localhost:3000" +
        "&ips=203.0.113.7&ips=10.0.0.0/8&hourly_limit=%20500%20&for=Review%20Tool%20%3Cscript%3E",
      OFFERED,
    );
    expect(link).toEqual({
      kind: "new-key",
      prefill: newKeyPrefill({
        name: "review bot",
        kind: "wanikani",
        expires: { choice: "date", date: "2099-01-31" },
        origins: ["https://app.example.com", "http://localhost:3000"],
        ips: ["203.0.113.7", "10.0.0.0/8"],
        hourlyLimit: 500,
        // Plain text, shown as such: the dialog never reads it as markup.
        requestedBy: "Review Tool <script>",
      }),
    });
    const byAccount = parseDeepLink("keyhaven://new-key?account=acc_1234&expires=30D", OFFERED);
    expect(byAccount.kind === "new-key" && byAccount.prefill).toEqual(newKeyPrefill({ account: "acc_1234", expires: { choice: "30d", date: "" } }));
  });

  it("leaves out each bad value and says why, keeping the good ones", () => {
    const link = parseDeepLink(
      "keyhaven://new-key?account=acc%201&kind=tokenkit&expires=2001-01-01&origins=https://ok.example.com,app.example.com" +
        "&ips=10.0.0.0/33,1.2.3.4&hourly_limit=0&for=a%0Ab",
      OFFERED,
    );
    expect(link.kind).toBe("new-key");
    if (link.kind !== "new-key") return;
    const p = link.prefill;
    expect([p.account, p.kind, p.expires, p.hourlyLimit, p.requestedBy]).toEqual([null, "tokenkit", null, null, null]);
    expect(p.origins).toEqual(["https://ok.example.com"]);
    expect(p.ips).toEqual(["1.2.3.4"]);
    expect(p.problems).toHaveLength(6);
    expect(p.problems[0]).toBe("The account in the link, “acc 1”, is not an account id; the active account was kept.");
    expect(p.problems[1]).toMatch(/^The expiry in the link was not filled in: “2001-01-01” is neither/);
    expect(p.problems[2]).toMatch(/^The link's origin was not filled in: “app.example.com” has no scheme/);
    expect(p.problems[3]).toMatch(/^The link's IP was not filled in: “10.0.0.0\/33”/);
    expect(p.problems[4]).toMatch(/^The hourly limit in the link, “0”, was not filled in: /);
    expect(p.problems[5]).toBe("The link's “for” holds control characters; who is asking is not known.");

    const odd = parseDeepLink(
      `keyhaven://new-key?kind=mainframe&for=${"x".repeat(101)}&hourly_limit=1&hourly_limit=2&account=a1&kind=animus`,
      OFFERED,
    );
    expect(odd.kind === "new-key" && odd.prefill).toEqual(
      newKeyPrefill({
        account: "a1",
        problems: [
          "The link names the kind of service more than once (“kind”); it was left out.",
          "The link gives the hourly limit more than once (“hourly_limit”); it was left out.",
          "The link's “for” is 101 characters long (at most 100); who is asking is not known.",
        ],
      }),
    );
    const both = parseDeepLink("keyhaven://new-key?account=a1&kind=animus&kind=x&kind=y", OFFERED);
    expect(both.kind === "new-key" && both.prefill.problems).toEqual(["The link names the kind of service more than once (“kind”); it was left out."]);
    const unknownKind = parseDeepLink("keyhaven://new-key?kind=mainframe", OFFERED);
    expect(unknownKind.kind === "new-key" && unknownKind.prefill.problems).toEqual([
      "The link asks for a kind of service Keyhaven does not know, “mainframe”; the active account was kept.",
    ]);
    const accountAndKind = parseDeepLink("keyhaven://new-key?account=a1&kind=animus", OFFERED);
    expect(accountAndKind.kind === "new-key" && accountAndKind.prefill).toEqual(
      newKeyPrefill({ account: "a1", problems: ["The link names both an account and a kind of service; the kind was ignored."] }),
    );
  });
});

describe("linkAccount", () => {
  const native = { id: "a1", connector: "native" as const };
  const wk1 = { id: "a2", connector: "wanikani" as const };
  const wk2 = { id: "a3", connector: "wanikani" as const };
  const accounts = [native, wk1, wk2];

  it("takes the named account, the active one of the kind asked, or the first of that kind", () => {
    expect(linkAccount(newKeyPrefill({ account: "a3" }), accounts, native)).toEqual({ account: wk2 });
    expect(linkAccount(newKeyPrefill({ kind: "wanikani" }), accounts, wk2)).toEqual({ account: wk2 });
    expect(linkAccount(newKeyPrefill({ kind: "wanikani" }), accounts, native)).toEqual({ account: wk1 });
    expect(linkAccount(newKeyPrefill(), accounts, wk1)).toEqual({ account: wk1 });
  });

  it("refuses an account or kind this profile does not have", () => {
    expect(linkAccount(newKeyPrefill({ account: "gone" }), accounts, native)).toEqual({
      problem: "The link asks for a key in account “gone”, which is not in this profile.",
    });
    expect(linkAccount(newKeyPrefill({ kind: "animus" }), accounts, native)).toEqual({
      problem: "The link asks for an Animus key, and this profile has no Animus account: add one first.",
    });
  });
});
