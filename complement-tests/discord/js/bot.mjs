// A discord.js bot, unchanged but for `rest.api`, as a judge of the Nexus
// bot API. It reports what it sees as JSON lines on stdout:
//
//     node bot.mjs BASE_URL TOKEN
//
// {"event": "ready", ...} when ready (its guilds and their text channels),
// {"event": "message", ...} for every message; it answers "!ping" with a
// reply "pong", "!react" with a reaction, "!history" with the last messages;
// {"event": "reaction_add", ...} for reactions it sees. On ready it
// registers guild slash commands with `REST.put(Routes.applicationGuildCommands…)`
// (reporting "commands_registered") and answers them: /echo replies,
// /think defers, edits its answer and follows up, /secret answers
// ephemerally; each is reported as "interaction", then what it did.
import { Client, Events, GatewayIntentBits, ChannelType, MessageFlags, Routes } from "discord.js";

const [base, token] = process.argv.slice(2);
const client = new Client({
  intents: [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.MessageContent,
    GatewayIntentBits.GuildMessageReactions,
  ],
  rest: { api: `${base.replace(/\/$/, "")}/api` },
});

const report = (fields) => process.stdout.write(JSON.stringify(fields) + "\n");

client.once(Events.ClientReady, async (ready) => {
  const guilds = ready.guilds.cache.map((g) => ({
    id: g.id,
    name: g.name,
    channels: g.channels.cache.filter((c) => c.type === ChannelType.GuildText).map((c) => c.name),
  }));
  report({ event: "ready", user: ready.user.username, guilds });
  const commands = [
    {
      name: "echo",
      description: "Says it back",
      options: [
        { type: 3, name: "text", description: "What to say", required: true },
        { type: 4, name: "times", description: "How many times", min_value: 1, max_value: 5 },
      ],
    },
    { name: "think", description: "Takes its time" },
    { name: "secret", description: "Only for you" },
  ];
  try {
    for (const guild of ready.guilds.cache.values()) {
      const put = await client.rest.put(Routes.applicationGuildCommands(ready.application.id, guild.id), {
        body: commands,
      });
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
    channel: interaction.channel?.name ?? null,
    guild: interaction.guildId,
    options: interaction.options.data.map((o) => ({ name: o.name, value: o.value })),
  });
  try {
    if (interaction.commandName === "echo") {
      const text = interaction.options.getString("text", true);
      const times = interaction.options.getInteger("times") ?? 1;
      const answer = await interaction.reply({ content: Array(times).fill(text).join(" "), withResponse: true });
      report({ event: "echoed", id: answer.resource.message.id, content: answer.resource.message.content });
    } else if (interaction.commandName === "think") {
      await interaction.deferReply();
      const edited = await interaction.editReply("thought it over");
      const more = await interaction.followUp("and one more thing");
      report({ event: "thought", original: edited.id, followup: more.id });
    } else if (interaction.commandName === "secret") {
      await interaction.reply({ content: "psst", flags: MessageFlags.Ephemeral });
      report({ event: "whispered" });
    }
  } catch (error) {
    report({ event: "error", message: String(error) });
  }
});

client.on(Events.MessageCreate, async (message) => {
  report({
    event: "message",
    id: message.id,
    content: message.content,
    author: message.author.username,
    own: message.author.id === client.user.id,
    channel: message.channel.name,
  });
  try {
    if (message.content === "!ping") {
      const reply = await message.reply("pong");
      report({ event: "replied", id: reply.id, to: message.id });
    } else if (message.content === "!react") {
      await message.react("\u{1F44D}");
      report({ event: "reacted", id: message.id });
    } else if (message.content === "!history") {
      const recent = await message.channel.messages.fetch({ limit: 4 });
      report({ event: "history", newest_first: [...recent.values()].map((m) => m.content) });
    }
  } catch (error) {
    report({ event: "error", message: String(error) });
  }
});

client.on(Events.MessageReactionAdd, (reaction, user) => {
  report({ event: "reaction_add", emoji: reaction.emoji.name, message: reaction.message.id, user: user.id });
});

try {
  await client.login(token);
} catch (error) {
  report({ event: "login_failure", message: String(error) });
  process.exit(0);
}
