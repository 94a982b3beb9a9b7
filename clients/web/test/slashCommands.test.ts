import { describe, expect, it } from "vitest";
import {
  type SlashCommand,
  OptionType as T,
  awaitedInvocations,
  choicesAfter,
  choose,
  commandLine,
  emptyForm,
  fieldProblem,
  fieldsOf,
  isSendable,
  matchingCommands,
  typedCommandName,
  validate,
} from "../src/logic/slashCommands";

const BOT = "@_discord_bot_1:x";
const OTHER_BOT = "@_discord_bot_2:x";

const roll: SlashCommand = {
  bot_user_id: BOT,
  application_id: "1",
  name: "roll",
  description: "Roll a die",
  options: [
    { type: T.INTEGER, name: "sides", description: "How many sides", required: true, min_value: 2, max_value: 100 },
    { type: T.STRING, name: "label", description: "What it is for", max_length: 20 },
    { type: T.BOOLEAN, name: "secret", description: "Only for me" },
  ],
};

const admin: SlashCommand = {
  bot_user_id: OTHER_BOT,
  application_id: "2",
  name: "admin",
  description: "Run the place",
  options: [
    {
      type: T.SUB_COMMAND_GROUP,
      name: "members",
      description: "People",
      options: [
        {
          type: T.SUB_COMMAND,
          name: "kick",
          description: "Show someone out",
          options: [
            { type: T.USER, name: "who", description: "Who", required: true },
            { type: T.BOOLEAN, name: "quiet", description: "Say nothing", required: true },
          ],
        },
      ],
    },
    {
      type: T.SUB_COMMAND,
      name: "mood",
      description: "Set the mood",
      options: [
        { type: T.STRING, name: "level", description: "How", required: true, choices: [{ name: "Calm", value: "calm" }, { name: "Wild", value: "wild" }] },
        { type: T.NUMBER, name: "volume", description: "How loud", min_value: 0, max_value: 1.5 },
        { type: T.CHANNEL, name: "where", description: "Where" },
        { type: T.ROLE, name: "for", description: "For whom" },
      ],
    },
  ],
};

const rollDice: SlashCommand = { ...roll, bot_user_id: OTHER_BOT, application_id: "2", name: "reroll", description: "Again" };
const commands = [admin, rollDice, roll];

describe("typing a command name", () => {
  it("is a slash at the very start and a name without spaces", () => {
    expect(typedCommandName("/")).toBe("");
    expect(typedCommandName("/Ro")).toBe("ro");
    expect(typedCommandName("/roll ")).toBeNull();
    expect(typedCommandName(" /roll")).toBeNull();
    expect(typedCommandName("//roll")).toBeNull();
    expect(typedCommandName("hello /roll")).toBeNull();
  });

  it("offers names starting with it first, then names containing it", () => {
    expect(matchingCommands(commands, "").map((c) => c.name)).toEqual(["admin", "reroll", "roll"]);
    expect(matchingCommands(commands, "ro").map((c) => c.name)).toEqual(["roll", "reroll"]);
    expect(matchingCommands(commands, "RO").map((c) => c.name)).toEqual(["roll", "reroll"]);
    expect(matchingCommands(commands, "zz")).toEqual([]);
  });
});

describe("the command form", () => {
  it("has one field per option, required booleans already off", () => {
    expect(fieldsOf(roll, []).map((o) => o.name)).toEqual(["sides", "label", "secret"]);
    expect(emptyForm(roll).values).toEqual({ sides: "", label: "", secret: "" });
    expect(choicesAfter(roll, [])).toBeNull();
  });

  it("asks for the sub-command group, then the sub-command, then the fields", () => {
    let form = emptyForm(admin);
    expect(choicesAfter(admin, form.path)?.map((o) => o.name)).toEqual(["members", "mood"]);
    expect(fieldsOf(admin, form.path)).toEqual([]);
    expect(validate(admin, form).choice).toMatch(/members, mood/);
    form = choose(admin, form, 0, "members");
    expect(choicesAfter(admin, form.path)?.map((o) => o.name)).toEqual(["kick"]);
    form = choose(admin, form, 1, "kick");
    expect(form.values).toEqual({ who: "", quiet: "false" });
    // Choosing again higher up forgets what was below.
    form = choose(admin, form, 0, "mood");
    expect(form.path).toEqual(["mood"]);
    expect(Object.keys(form.values)).toEqual(["level", "volume", "where", "for"]);
  });
});

describe("validation", () => {
  it("marks missing required values and leaves optional ones out", () => {
    const problems = validate(roll, emptyForm(roll));
    expect(problems.fields).toEqual({ sides: "Required." });
    expect(isSendable(problems)).toBe(false);
    expect(isSendable(validate(roll, { path: [], values: { sides: "6", label: "", secret: "" } }))).toBe(true);
  });

  it("checks integers and their bounds as the bridge will", () => {
    const sides = roll.options[0];
    expect(fieldProblem(sides, "1")).toBe("Must be between 2 and 100.");
    expect(fieldProblem(sides, "101")).toBe("Must be between 2 and 100.");
    expect(fieldProblem(sides, "2.5")).toBe("Must be a whole number.");
    expect(fieldProblem(sides, "six")).toBe("Must be a whole number.");
    expect(fieldProblem(sides, "99999999999999999999")).toBe("Must be a whole number.");
    expect(fieldProblem(sides, "100")).toBeNull();
    expect(fieldProblem({ ...sides, max_value: undefined }, "1")).toBe("Must be at least 2.");
  });

  it("checks numbers, lengths, choices, users and channels", () => {
    const mood = fieldsOf(admin, ["mood"]);
    const [level, volume, where] = mood;
    expect(fieldProblem(volume, "0.75")).toBeNull();
    expect(fieldProblem(volume, "2")).toBe("Must be between 0 and 1.5.");
    expect(fieldProblem(volume, "1e400")).toBe("Must be a number.");
    expect(fieldProblem(volume, "NaN")).toBe("Must be a number.");
    expect(fieldProblem(roll.options[1], "a".repeat(21))).toBe("At most 20 characters.");
    expect(fieldProblem(roll.options[1], "🎲".repeat(20))).toBeNull();
    expect(fieldProblem(level, "calm")).toBeNull();
    expect(fieldProblem(level, "Calm")).toBe("Choose one of: Calm, Wild.");
    expect(fieldProblem(where, "!room:x")).toBeNull();
    expect(fieldProblem(where, "#general:x")).toBeNull();
    expect(fieldProblem(where, "general")).toMatch(/Pick a channel/);
    const who = fieldsOf(admin, ["members", "kick"])[0];
    expect(fieldProblem(who, "@bob:x")).toBeNull();
    expect(fieldProblem(who, "bob")).toMatch(/Pick a member/);
  });

  it("refuses what the command line cannot carry", () => {
    expect(fieldProblem(roll.options[1], 'say "hi"')).toMatch(/Double quotes/);
    expect(fieldProblem(roll.options[1], "two\nlines")).toBe("Must be one line.");
    expect(fieldProblem({ type: T.ATTACHMENT, name: "file", description: "f", required: true }, "")).toMatch(/needs a file/);
    expect(fieldProblem({ type: T.ATTACHMENT, name: "file", description: "f" }, "")).toBeNull();
  });
});

describe("the command line", () => {
  it("names every value and quotes those with spaces", () => {
    expect(commandLine(roll, { path: [], values: { sides: "20", label: "", secret: "" } })).toBe("/roll sides:20");
    expect(commandLine(roll, { path: [], values: { sides: " 6 ", label: "for the ogre", secret: "true" } })).toBe(
      '/roll sides:6 label:"for the ogre" secret:true',
    );
  });

  it("puts the chosen sub-commands first", () => {
    const kick = { path: ["members", "kick"], values: { who: "@bob:x", quiet: "false" } };
    expect(isSendable(validate(admin, kick))).toBe(true);
    expect(commandLine(admin, kick)).toBe("/admin members kick who:@bob:x quiet:false");
    const mood = { path: ["mood"], values: { level: "wild", volume: "", where: "!room:x", for: "Night Owls" } };
    expect(commandLine(admin, mood)).toBe('/admin mood level:wild where:!room:x for:"Night Owls"');
  });
});

describe("waiting for a bot's answer", () => {
  const now = 1_000_000_000;
  const message = (id: string, sender: string, body: string, replyTo: string | null = null, ago = 1000) => ({ id, sender, body, replyTo, ts: now - ago });

  it("is the newest unanswered invocation of each bot's command", () => {
    const messages = [
      message("$1", "@alice:x", "/roll sides:6"),
      message("$2", BOT, "6", "$1"),
      message("$3", "@alice:x", "/roll sides:20"),
      message("$4", "@bob:x", "/reroll sides:4"),
      message("$5", "@bob:x", "just talking"),
    ];
    const awaited = awaitedInvocations(messages, commands, now);
    expect([...awaited]).toEqual([
      [BOT, "$3"],
      [OTHER_BOT, "$4"],
    ]);
  });

  it("ends with any reply of the bot (a refusal notice too) and after fifteen minutes", () => {
    expect(awaitedInvocations([message("$1", "@a:x", "/roll sides:1"), message("$2", BOT, "/roll: sides: 1 is out of bounds", "$1")], commands, now).size).toBe(0);
    expect(awaitedInvocations([message("$1", "@a:x", "/roll sides:6", null, 16 * 60 * 1000)], commands, now).size).toBe(0);
    // Another bot's reply does not answer for this one.
    expect(awaitedInvocations([message("$1", "@a:x", "/roll sides:6"), message("$2", OTHER_BOT, "hm", "$1")], commands, now).get(BOT)).toBe("$1");
  });
});
