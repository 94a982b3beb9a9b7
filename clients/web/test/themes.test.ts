import { describe, expect, it } from "vitest";
import { BUILT_IN, TOKENS, applyTheme, contrast, exportTheme, parseCustomTheme } from "../src/logic/themes";

describe("themes", () => {
  it("ships at least four complete themes", () => {
    expect(BUILT_IN.length).toBeGreaterThanOrEqual(4);
    for (const theme of BUILT_IN) expect(Object.keys(theme.tokens).sort()).toEqual([...TOKENS].sort());
    expect(BUILT_IN.map((t) => t.id)).toEqual(expect.arrayContaining(["dark", "light", "high-contrast"]));
  });

  it("keeps text readable in every built-in theme (WCAG AA, 4.5:1)", () => {
    for (const theme of BUILT_IN) {
      const t = theme.tokens;
      for (const bg of [t["bg-chat"], t["bg-sidebar"], t["bg-input"]]) {
        expect(contrast(t.text, bg), `${theme.id} text on ${bg}`).toBeGreaterThanOrEqual(4.5);
      }
      expect(contrast(t["text-muted"], t["bg-chat"]), `${theme.id} muted`).toBeGreaterThanOrEqual(4.5);
      expect(contrast(t["accent-text"], t.accent), `${theme.id} accent`).toBeGreaterThanOrEqual(4.5);
    }
  });

  it("gives the high-contrast theme at least 7:1 (WCAG AAA)", () => {
    const t = BUILT_IN.find((x) => x.id === "high-contrast")!.tokens;
    expect(contrast(t.text, t["bg-chat"])).toBeGreaterThanOrEqual(7);
  });

  it("round-trips a shared custom theme, filling missing tokens from the base", () => {
    const theme = parseCustomTheme('{"name":"Pink","tokens":{"accent":"#ff69b4"}}');
    expect(theme.tokens.accent).toBe("#ff69b4");
    expect(theme.tokens.text).toBe(BUILT_IN[0].tokens.text);
    expect(parseCustomTheme(exportTheme(theme))).toEqual(theme);
  });

  it("refuses what could reach CSS as anything but a colour", () => {
    expect(() => parseCustomTheme("not json")).toThrow(/JSON/);
    expect(() => parseCustomTheme('{"name":"x","tokens":{"accent":"red; background:url(https://x)"}}')).toThrow(/colour/);
    expect(() => parseCustomTheme('{"name":"x","tokens":{"font":"#fff"}}')).toThrow(/Unknown token/);
    expect(() => parseCustomTheme('{"tokens":{}}')).toThrow(/name/);
  });

  it("applies tokens as CSS variables", () => {
    const root = document.createElement("div");
    applyTheme(BUILT_IN[1], root);
    expect(root.style.getPropertyValue("--bg-chat")).toBe(BUILT_IN[1].tokens["bg-chat"]);
    expect(root.dataset.theme).toBe("light");
  });
});
