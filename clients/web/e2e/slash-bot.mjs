// The discord.js bot of the slash-command scenario (slash.mjs), unchanged
// discord.js but for `rest.api`, loaded from the discord.js judge
// (scripts/discord-js-judge.sh) so the web client needs no copy of it:
//
//     node slash-bot.mjs DISCORD_JS_DIR BASE_URL TOKEN
//
// On ready it registers guild commands — /roll (sides: an integer 2–100,
// label: an optional string), /forecast (a deferred answer: "thinking",
// then the answer edited in), /whisper (an ephemeral answer) and /greet
// (a member, a choice, a yes/no) — and
// answers them. It reports JSON lines on stdout: "ready",
// "commands_registered", then "interaction" (name, user, options) and what
// it answered.
import { createRequire } from "node:module";
import { join } from "node:path";

const [judge, base, token] = process.argv.slice(2);
const { Client, Events, GatewayIntentBits, MessageFlags, Routes } = createRequire(join(judge, "package.json"))("discord.js");

/** How long /forecast "thinks" before answering: long enough to be seen. */
const THINKING_MS = 3000;

const client = new Client({
  intents: [GatewayIntentBits.Guilds],
  rest: { api: `${base.replace(/\/$/, "")}/api` },
});
const report = (fields) => process.stdout.write(JSON.stringify(fields) + "\n");

const commands = [
  {
    name: "roll",
    description: "Roll a die",
    options: [
      { type: 4, name: "sides", description: "How many sides", required: true, min_value: 2, max_value: 100 },
      { type: 3, name: "label", description: "What the roll is for", max_length: 40 },
    ],
  },
  {
    name: "forecast",
    description: "Tomorrow's weather, after some thought",
    options: [{ type: 3, name: "place", description: "Where", required: true }],
  },
  { name: "whisper", description: "A secret only you will see" },
  {
    name: "greet",
    description: "Greet someone",
    options: [
      { type: 6, name: "who", description: "Whom to greet", required: true },
      { type: 3, name: "style", description: "How", required: true, choices: [{ name: "Warm", value: "warm" }, { name: "Formal", value: "formal" }] },
      { type: 5, name: "loud", description: "Shout it" },
    ],
  },
];

client.once(Events.ClientReady, async (ready) => {
  report({ event: "ready", user: ready.user.username, guilds: ready.guilds.cache.map((g) => g.name) });
  try {
    for (const guild of ready.guilds.cache.values()) {
      const put = await client.rest.put(Routes.applicationGuildCommands(ready.application.id, guild.id), { body: commands });
      report({ event: "commands_registered", names: put.map((c) => c.name) });
    }
  } catch (error) {
    report({ event: "error", message: String(error) });
  }
});

client.on(Events.InteractionCreate, async (interaction) => {
  if (!interaction.isChatInputCommand()) return;
  report({
    event: "interaction",
    name: interaction.commandName,
    user: interaction.user.username,
    options: interaction.options.data.map((o) => ({ name: o.name, value: o.value })),
  });
  try {
    if (interaction.commandName === "roll") {
      const sides = interaction.options.getInteger("sides", true);
      const label = interaction.options.getString("label");
      const rolled = 1 + Math.floor(Math.random() * sides);
      const content = `🎲 ${label ? `${label}: ` : ""}rolled ${rolled} on a d${sides}`;
      await interaction.reply({ content });
      report({ event: "answered", name: "roll", content });
    } else if (interaction.commandName === "forecast") {
      const place = interaction.options.getString("place", true);
      await interaction.deferReply();
      report({ event: "deferred", name: "forecast" });
      await new Promise((resolve) => setTimeout(resolve, THINKING_MS));
      const content = `Forecast for ${place}: sunny, 24 °C`;
      await interaction.editReply(content);
      report({ event: "answered", name: "forecast", content });
    } else if (interaction.commandName === "greet") {
      const who = interaction.options.getUser("who", true);
      const words = interaction.options.getString("style", true) === "formal" ? "Good day" : "Hi there";
      const content = `${words}, ${who.username}${interaction.options.getBoolean("loud") ? "!!!" : "."}`;
      await interaction.reply({ content });
      report({ event: "answered", name: "greet", content, who: who.username });
    } else if (interaction.commandName === "whisper") {
      const content = "The password is swordfish";
      await interaction.reply({ content, flags: MessageFlags.Ephemeral });
      report({ event: "answered", name: "whisper", content });
    }
  } catch (error) {
    report({ event: "error", message: String(error) });
  }
});

try {
  await client.login(token);
} catch (error) {
  report({ event: "login_failure", message: String(error) });
  process.exit(1);
}
