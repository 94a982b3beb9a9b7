// The theme engine: a theme is a set of named colour tokens applied as CSS
// custom properties. Built-in themes and custom ones (a token JSON a user
// pastes, shares and previews) go through the same validation.

export const TOKENS = [
  "bg-rail", "bg-sidebar", "bg-chat", "bg-input", "bg-hover", "bg-modal",
  "text", "text-muted", "text-link", "accent", "accent-text", "danger", "mention-bg", "border", "code-bg",
] as const;

export type Token = (typeof TOKENS)[number];
export type Theme = { id: string; name: string; tokens: Record<Token, string> };

export const BUILT_IN: Theme[] = [
  {
    id: "dark",
    name: "Dark",
    tokens: {
      "bg-rail": "#1e1f22", "bg-sidebar": "#2b2d31", "bg-chat": "#313338", "bg-input": "#383a40",
      "bg-hover": "#3a3c42", "bg-modal": "#2b2d31", text: "#dbdee1", "text-muted": "#a3a6aa",
      "text-link": "#6cb6ff", accent: "#5865f2", "accent-text": "#ffffff", danger: "#f23f43",
      "mention-bg": "#444032", border: "#1f2023", "code-bg": "#2b2d31",
    },
  },
  {
    id: "light",
    name: "Light",
    tokens: {
      "bg-rail": "#e3e5e8", "bg-sidebar": "#f2f3f5", "bg-chat": "#ffffff", "bg-input": "#ebedef",
      "bg-hover": "#e8eaed", "bg-modal": "#ffffff", text: "#1f2329", "text-muted": "#4e5058",
      "text-link": "#0057b8", accent: "#4752c4", "accent-text": "#ffffff", danger: "#b3261e",
      "mention-bg": "#fdf1d6", border: "#d4d7dc", "code-bg": "#f2f3f5",
    },
  },
  {
    id: "high-contrast",
    name: "High contrast",
    tokens: {
      "bg-rail": "#000000", "bg-sidebar": "#000000", "bg-chat": "#000000", "bg-input": "#1a1a1a",
      "bg-hover": "#333333", "bg-modal": "#000000", text: "#ffffff", "text-muted": "#e6e6e6",
      "text-link": "#ffff00", accent: "#ffff00", "accent-text": "#000000", danger: "#ff6666",
      "mention-bg": "#3d3d00", border: "#ffffff", "code-bg": "#1a1a1a",
    },
  },
  {
    id: "forest",
    name: "Forest",
    tokens: {
      "bg-rail": "#14211a", "bg-sidebar": "#1b2d23", "bg-chat": "#21372b", "bg-input": "#2a4536",
      "bg-hover": "#2e4a3a", "bg-modal": "#1b2d23", text: "#e4efe7", "text-muted": "#a9c2b1",
      "text-link": "#8fd9ff", accent: "#1e7b3f", "accent-text": "#ffffff", danger: "#ff7b72",
      "mention-bg": "#4a4526", border: "#10190f", "code-bg": "#1b2d23",
    },
  },
];

const COLOUR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

/**
 * Reads a custom theme from pasted JSON: `{name, tokens: {token: "#rrggbb"}}`.
 * Missing tokens come from `base` (so a theme may change a few colours);
 * unknown tokens and non-colour values are refused, since they would reach CSS.
 */
export function parseCustomTheme(json: string, base: Theme = BUILT_IN[0]): Theme {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error("The theme is not valid JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("A theme is a JSON object.");
  const { name, tokens } = value as { name?: unknown; tokens?: unknown };
  if (typeof name !== "string" || name.length < 1 || name.length > 50) throw new Error("A theme needs a name of 1–50 characters.");
  if (typeof tokens !== "object" || tokens === null || Array.isArray(tokens)) throw new Error("A theme needs a tokens object.");
  const merged = { ...base.tokens };
  for (const [token, colour] of Object.entries(tokens)) {
    if (!(TOKENS as readonly string[]).includes(token)) throw new Error(`Unknown token ${token}.`);
    if (typeof colour !== "string" || !COLOUR.test(colour)) throw new Error(`${token} must be a colour like #5865f2.`);
    merged[token as Token] = colour;
  }
  return { id: "custom", name, tokens: merged };
}

/** The JSON a user copies to share a theme. */
export function exportTheme(theme: Theme): string {
  return JSON.stringify({ name: theme.name, tokens: theme.tokens }, null, 2);
}

export function applyTheme(theme: Theme, root: HTMLElement = document.documentElement): void {
  for (const token of TOKENS) root.style.setProperty(`--${token}`, theme.tokens[token]);
  root.dataset.theme = theme.id;
}

/** WCAG 2 contrast ratio of two #rrggbb colours (1–21). */
export function contrast(a: string, b: string): number {
  const [la, lb] = [luminance(a), luminance(b)];
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

function luminance(hex: string): number {
  const full = hex.length === 4 ? `#${hex[1]}${hex[1]}${hex[2]}${hex[2]}${hex[3]}${hex[3]}` : hex;
  const channel = (i: number) => {
    const c = parseInt(full.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

const STORAGE_KEY = "nexus.theme";

export function savedTheme(): Theme {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved) {
      const { id, custom } = JSON.parse(saved);
      if (id === "custom" && typeof custom === "string") return parseCustomTheme(custom);
      const builtIn = BUILT_IN.find((t) => t.id === id);
      if (builtIn) return builtIn;
    }
  } catch {
    // A damaged saved theme falls back to the default.
  }
  return BUILT_IN[0];
}

export function saveTheme(theme: Theme): void {
  const value = theme.id === "custom" ? { id: "custom", custom: exportTheme(theme) } : { id: theme.id };
  localStorage.setItem(STORAGE_KEY, JSON.stringify(value));
}
