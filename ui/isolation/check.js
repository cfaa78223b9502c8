// The isolation application's rules for one IPC message (see index.html). A plain script: it
// defines keyhavenCheckIpc(message, commands), which answers null when the message may go on to
// Rust and otherwise a sentence naming the problem. `commands` is KEYHAVEN_COMMANDS from
// commands.js: each app command and the name of its one argument (null for none).
//
// Rust checks every argument again (types by serde, values by the core); this check refuses
// what no part of this UI ever sends, before it reaches Rust at all.
var keyhavenCheckIpc = (function () {
  "use strict";

  /** Plugin commands the window may call, each with the argument names it sends. */
  var PLUGIN_COMMANDS = {
    "plugin:event|listen": ["event", "target", "handler"],
    "plugin:event|unlisten": ["event", "eventId"],
    "plugin:deep-link|get_current": [],
  };
  /** The events the window listens to: KEYHAVEN_EVENTS from commands.js, loaded first. */
  var EVENTS = KEYHAVEN_EVENTS;

  var MAX_DEPTH = 6;
  var MAX_TOTAL_CHARS = 64 * 1024;
  var MAX_STRING_CHARS = 16 * 1024;
  var MAX_ITEMS = 1000;
  var FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
  var ID = /^[A-Za-z0-9_.:-]{1,128}$/;

  function own(object, name) {
    return Object.prototype.hasOwnProperty.call(object, name);
  }

  function isPlainObject(value) {
    if (value === null || typeof value !== "object") return false;
    var proto = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
  }

  function sameKeys(object, expected) {
    var keys = Object.keys(object);
    if (keys.length !== expected.length) return false;
    for (var i = 0; i < keys.length; i++) {
      if (expected.indexOf(keys[i]) < 0) return false;
    }
    return true;
  }

  /** Walks an argument: plain JSON, bounded in depth, size and length, ids well formed. */
  function checkValue(value, path, depth, budget) {
    if (depth > MAX_DEPTH) return path + " is nested too deeply";
    if (value === null || typeof value === "boolean") return null;
    if (typeof value === "number") return isFinite(value) ? null : path + " is not a finite number";
    if (typeof value === "string") {
      budget.chars += value.length;
      if (value.length > MAX_STRING_CHARS) return path + " is longer than " + MAX_STRING_CHARS + " characters";
      if (value.indexOf("\u0000") >= 0) return path + " holds a NUL character";
      return null;
    }
    if (Array.isArray(value)) {
      if (value.length > MAX_ITEMS) return path + " has more than " + MAX_ITEMS + " items";
      for (var i = 0; i < value.length; i++) {
        var p = checkValue(value[i], path + "[" + i + "]", depth + 1, budget);
        if (p) return p;
      }
      return null;
    }
    if (isPlainObject(value)) {
      var keys = Object.keys(value);
      if (keys.length > 64) return path + " has too many fields";
      for (var k = 0; k < keys.length; k++) {
        var key = keys[k];
        if (!FIELD.test(key)) return path + " has a field with an unexpected name";
        var field = value[key];
        if ((key === "id" || /_id$/.test(key)) && field !== null && field !== undefined) {
          if (typeof field !== "string" || !ID.test(field)) return path + "." + key + " is not a well-formed id";
        }
        if (field === undefined) continue;
        var q = checkValue(field, path + "." + key, depth + 1, budget);
        if (q) return q;
      }
      return null;
    }
    return path + " is not plain JSON (" + typeof value + ")";
  }

  function checkPlugin(cmd, payload) {
    var names = PLUGIN_COMMANDS[cmd];
    if (!sameKeys(payload, names)) return "unexpected arguments for " + cmd;
    if (cmd === "plugin:event|listen" || cmd === "plugin:event|unlisten") {
      if (EVENTS.indexOf(payload.event) < 0) return "the window does not listen to that event";
      var n = cmd === "plugin:event|listen" ? payload.handler : payload.eventId;
      if (typeof n !== "number" || !isFinite(n)) return "the listener id is not a number";
      if (cmd === "plugin:event|listen" && !isPlainObject(payload.target)) return "the listen target is not an object";
    }
    return null;
  }

  return function keyhavenCheckIpc(message, commands) {
    if (!isPlainObject(message)) return "the message is not an object";
    var cmd = message.cmd;
    if (typeof cmd !== "string") return "the message names no command";
    var payload = message.payload === undefined ? {} : message.payload;
    if (!isPlainObject(payload)) return "the arguments are not an object";
    if (own(PLUGIN_COMMANDS, cmd)) return checkPlugin(cmd, payload);
    if (!own(commands, cmd)) return "the window has no command called " + JSON.stringify(cmd.slice(0, 64));
    var arg = commands[cmd];
    if (!sameKeys(payload, arg === null ? [] : [arg])) {
      return "unexpected arguments for " + cmd + " (it takes " + (arg === null ? "none" : "only " + arg) + ")";
    }
    if (arg === null) return null;
    if (!isPlainObject(payload[arg])) return arg + " is not an object";
    var budget = { chars: 0 };
    var problem = checkValue(payload[arg], arg, 1, budget);
    if (problem) return problem;
    if (budget.chars > MAX_TOTAL_CHARS) return "the arguments are larger than 64 KiB";
    return null;
  };
})();
