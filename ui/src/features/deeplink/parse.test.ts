import { describe, expect, it } from "vitest";
import { MAX_LINK_CHARS, parseDeepLink } from "./parse";

const OFFERED = ["read", "write", "search"];

describe("parseDeepLink", () => {
  it("reads a new-key link's name and scopes", () => {
    expect(parseDeepLink("keyhaven://new-key?name=deploy%20bot&scopes=read,write", OFFERED)).toEqual({
      kind: "new-key",
      prefill: { name: "deploy bot", scopes: ["read", "write"], problems: [] },
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
        prefill: { name: "ci bot", scopes: ["read"], problems: [] },
      });
    }
  });

  it("leaves out what the link does not give", () => {
    expect(parseDeepLink("keyhaven://new-key", OFFERED)).toEqual({
      kind: "new-key",
      prefill: { name: "", scopes: null, problems: [] },
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
      prefill: {
        name: "",
        scopes: ["read"],
        problems: ["The name in the link is 101 characters long (at most 100); it was not filled in."],
      },
    });
    const control = parseDeepLink("keyhaven://new-key?name=a%0Ab", OFFERED);
    expect(control.kind === "new-key" && control.prefill.name).toBe("");
    expect(control.kind === "new-key" && control.prefill.problems[0]).toMatch(/control character/);
    const twice = parseDeepLink("keyhaven://new-key?name=a&name=b", OFFERED);
    expect(twice.kind === "new-key" && twice.prefill).toEqual({
      name: "",
      scopes: null,
      problems: ["The link names the key more than once; no name was filled in."],
    });
  });

  it("ignores and reports parameters it does not use", () => {
    const link = parseDeepLink("keyhaven://new-key?name=x&create=1&secret=abc&create=2", OFFERED);
    expect(link.kind === "new-key" && link.prefill).toEqual({
      name: "x",
      scopes: null,
      problems: ["The link has parameters Keyhaven does not use, ignored: “create”, “secret”."],
    });
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
});
