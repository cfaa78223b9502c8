import { describe, expect, it } from "vitest";
import {
  checkHourlyLimit,
  checkIp,
  checkIps,
  checkName,
  checkOrigin,
  checkOrigins,
  resolveExpiry,
  splitList,
} from "./validation";
import fieldRules from "../../../../crates/api/tests/field_rules.json?raw";

describe("checkName", () => {
  it("accepts 1 to 100 characters after trimming", () => {
    expect(checkName("deploy bot")).toBeNull();
    expect(checkName("  x  ")).toBeNull();
    expect(checkName("é".repeat(100))).toBeNull();
  });
  it("names the problem", () => {
    expect(checkName("   ")).toBe("Give the key a name.");
    expect(checkName("x".repeat(101))).toBe("The name is 101 characters long; at most 100 are allowed.");
    expect(checkName("a\tb")).toMatch(/control character/);
  });
});

describe("splitList", () => {
  it("splits on commas, spaces and line breaks and drops empty entries", () => {
    expect(splitList(" https://a.example, https://b.example\n\nhttp://c:8080 ,")).toEqual([
      "https://a.example",
      "https://b.example",
      "http://c:8080",
    ]);
    expect(splitList("  ")).toEqual([]);
  });
});

describe("checkOrigin", () => {
  it("accepts scheme://host[:port]", () => {
    for (const ok of [
      "https://app.example.com",
      "http://localhost:3000",
      "HTTPS://App.Example.com",
      "http://[::1]:8080",
      "https://10.0.0.1",
      "https://a-b.example:65535",
    ]) {
      expect(checkOrigin(ok), ok).toBeNull();
    }
  });
  it("names the entry and what is wrong with it", () => {
    expect(checkOrigin("app.example.com")).toBe(
      "“app.example.com” has no scheme: an origin is scheme://host[:port], like https://app.example.com or http://localhost:3000.",
    );
    expect(checkOrigin("ftp://files.example.com")).toMatch(/“ftp”: an origin's scheme is http or https/);
    expect(checkOrigin("https://app.example.com/")).toMatch(/ends with “\/”: an origin has no path/);
    expect(checkOrigin("https://app.example.com/login")).toMatch(/has a path, query or fragment/);
    expect(checkOrigin("https://app.example.com?x=1")).toMatch(/has a path, query or fragment/);
    expect(checkOrigin("https://")).toMatch(/no valid host name/);
    expect(checkOrigin("https://bad_host.example")).toMatch(/no valid host name/);
    expect(checkOrigin("https://-x.example")).toMatch(/no valid host name/);
    expect(checkOrigin("https://app.example.com:0")).toMatch(/bad port: a port is a number from 1 to 65535/);
    expect(checkOrigin("https://app.example.com:99999")).toMatch(/bad port/);
    expect(checkOrigin("https://app.example.com:http")).toMatch(/bad port/);
    expect(checkOrigin("http://[::g]:80")).toMatch(/no valid host name/);
  });
  it("quotes a long entry shortened", () => {
    const long = `https://${"a".repeat(80)}.example/path`;
    const message = checkOrigin(long) ?? "";
    expect(message).toMatch(/^“https:\/\/a+…” has a path/);
    expect(message.length).toBeLessThan(120);
  });
});

describe("checkOrigins", () => {
  it("returns the entries and the first problem", () => {
    expect(checkOrigins("https://a.example\nhttps://b.example:8443")).toEqual({
      entries: ["https://a.example", "https://b.example:8443"],
      problem: null,
    });
    expect(checkOrigins("https://a.example, nope").problem).toMatch(/^“nope” has no scheme/);
    expect(checkOrigins("https://a.example https://A.example").problem).toBe("“https://A.example” is listed twice.");
    const many = Array.from({ length: 21 }, (_, i) => `https://h${i}.example`).join("\n");
    expect(checkOrigins(many).problem).toBe("21 origins entered; at most 20 are allowed.");
    expect(checkOrigins("").entries).toEqual([]);
  });
});

describe("checkIp", () => {
  it("accepts IPv4, IPv6 and CIDR blocks", () => {
    for (const ok of [
      "203.0.113.7",
      "0.0.0.0/0",
      "10.0.0.0/8",
      "192.168.1.0/24",
      "::1",
      "2001:db8::/32",
      "2001:0db8:0000:0000:0000:ff00:0042:8329",
      "::ffff:192.0.2.1",
      "fe80::/128",
    ]) {
      expect(checkIp(ok), ok).toBeNull();
    }
  });
  it("names the entry and what is wrong with it", () => {
    expect(checkIp("example.com")).toBe(
      "“example.com” is not an IP address or CIDR block like 203.0.113.7, 2001:db8::1 or 10.0.0.0/8.",
    );
    expect(checkIp("256.1.1.1")).toMatch(/is not an IP address/);
    expect(checkIp("01.2.3.4")).toMatch(/is not an IP address/);
    expect(checkIp("1.2.3")).toMatch(/is not an IP address/);
    expect(checkIp("1:2:3:4:5:6:7:8:9")).toMatch(/is not an IP address/);
    expect(checkIp("1::2::3")).toMatch(/is not an IP address/);
    expect(checkIp("fe80::1%eth0")).toMatch(/is not an IP address/);
    expect(checkIp("10.0.0.0/33")).toBe("“10.0.0.0/33” has a bad prefix length: after “/” comes a number from 0 to 32.");
    expect(checkIp("::/129")).toMatch(/from 0 to 128/);
    expect(checkIp("10.0.0.0/")).toMatch(/bad prefix length/);
    expect(checkIp("10.0.0.0/8a")).toMatch(/bad prefix length/);
  });
  it("checks a list for repeats", () => {
    expect(checkIps("10.0.0.1 10.0.0.1").problem).toBe("“10.0.0.1” is listed twice.");
    expect(checkIps("10.0.0.1, 2001:db8::1").problem).toBeNull();
  });
});

describe("checkHourlyLimit", () => {
  it("reads an empty field as no limit", () => {
    expect(checkHourlyLimit("  ")).toEqual({ limit: null, problem: null });
  });
  it("accepts a positive whole number, with separators", () => {
    expect(checkHourlyLimit("1000")).toEqual({ limit: 1000, problem: null });
    expect(checkHourlyLimit("10,000")).toEqual({ limit: 10000, problem: null });
    expect(checkHourlyLimit("4294967295").limit).toBe(4294967295);
  });
  it("names the problem", () => {
    expect(checkHourlyLimit("0").problem).toBe("The hourly limit must be at least 1 (leave it empty for no limit).");
    expect(checkHourlyLimit("-5").problem).toMatch(/“-5” is not a whole number/);
    expect(checkHourlyLimit("1.5").problem).toMatch(/not a whole number/);
    expect(checkHourlyLimit("lots").problem).toMatch(/not a whole number/);
    expect(checkHourlyLimit("4294967296").problem).toBe("The hourly limit can be at most 4,294,967,295.");
  });
});

describe("resolveExpiry", () => {
  const now = new Date("2026-03-10T12:00:00Z");
  it("gives no expiry for never, and now + N days for a preset", () => {
    expect(resolveExpiry("never", "", now)).toEqual({ expiresAt: null, problem: null });
    expect(resolveExpiry("30d", "", now)).toEqual({ expiresAt: "2026-04-09T12:00:00.000Z", problem: null });
    expect(resolveExpiry("365d", "", now).expiresAt).toBe("2027-03-10T12:00:00.000Z");
  });
  it("ends a chosen date at the end of that local day", () => {
    const { expiresAt, problem } = resolveExpiry("date", "2030-01-31", now);
    expect(problem).toBeNull();
    const end = new Date(expiresAt ?? "");
    expect([end.getFullYear(), end.getMonth(), end.getDate(), end.getHours(), end.getMinutes()]).toEqual([2030, 0, 31, 23, 59]);
  });
  it("names the problem with a date", () => {
    expect(resolveExpiry("date", "", now).problem).toBe("Enter the expiry date as YYYY-MM-DD, for example 2030-01-31.");
    expect(resolveExpiry("date", "31/01/2030", now).problem).toMatch(/YYYY-MM-DD/);
    expect(resolveExpiry("date", "2030-02-30", now).problem).toBe("“2030-02-30” is not a date in the calendar.");
    expect(resolveExpiry("date", "2026-03-09", now).problem).toBe("The expiry date is in the past: pick a later day.");
  });
});

describe("the table of cases shared with the service's rules (crates/api/tests/field_rules.json)", () => {
  type Case = { rule: string; input: string | number; valid: boolean; why?: string };
  const cases = (JSON.parse(fieldRules) as { cases: Case[] }).cases;
  it("is answered here as listed, case by case", () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
    const wrong = cases.filter((c) => {
      let valid: boolean;
      switch (c.rule) {
        case "name":
          valid = checkName(String(c.input)) === null;
          break;
        case "origin":
          valid = checkOrigin(String(c.input)) === null;
          break;
        case "ip":
          valid = checkIp(String(c.input)) === null;
          break;
        case "hourly_limit":
          valid = checkHourlyLimit(String(c.input)).problem === null;
          break;
        default:
          throw new Error(`a rule this test does not know: ${c.rule}`);
      }
      return valid !== c.valid;
    });
    expect(wrong.map((c) => `${c.rule} ${JSON.stringify(c.input)} (${c.why ?? ""}): expected valid=${c.valid}`)).toEqual([]);
  });
});
