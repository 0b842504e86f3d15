// Renders /api/v2/openapi.json as a page: operations grouped by tag, with their
// parameters, request body and responses. Uses only textContent, never HTML strings.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function resolve(schema, doc) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { title: name, ...doc.components.schemas[name] };
  }
  return schema;
}

function expand(schema, doc, depth = 0) {
  // Replace $refs by their schemas, a few levels deep, for display.
  if (depth > 4 || schema === null || typeof schema !== "object") return schema;
  if (Array.isArray(schema)) return schema.map((s) => expand(s, doc, depth + 1));
  const resolved = resolve(schema, doc);
  const out = {};
  for (const [key, value] of Object.entries(resolved)) out[key] = expand(value, doc, depth + 1);
  return out;
}

function json(value) {
  return el("pre", {}, JSON.stringify(value, null, 2));
}

function operation(method, path, op, doc) {
  const body = el("div");
  if (op.parameters && op.parameters.length) {
    const rows = op.parameters.map((p) =>
      el("tr", {}, el("td", {}, p.name), el("td", {}, p.in), el("td", {}, JSON.stringify(p.schema)),
         el("td", {}, p.description || "")));
    body.append(el("h4", {}, "Parameters"),
      el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "schema"),
                         el("th", {}, "")), ...rows));
  }
  if (op.requestBody) {
    const media = op.requestBody.content["application/json"];
    body.append(el("h4", {}, "Request body"), json(expand(media.schema, doc)));
    if (media.example !== undefined) body.append(el("h4", {}, "Example"), json(media.example));
  }
  body.append(el("h4", {}, "Responses"));
  for (const [status, response] of Object.entries(op.responses)) {
    body.append(el("p", {}, el("strong", {}, status + " "), response.description));
    for (const media of Object.values(response.content || {})) body.append(json(expand(media.schema, doc)));
  }
  const summary = el("summary", {},
    el("span", { class: "method " + method }, method.toUpperCase()), " ",
    el("span", { class: "path" }, path), " — ", op.summary || "");
  return el("details", { class: "op", id: op.operationId }, summary, body);
}

async function main() {
  const target = document.getElementById("operations");
  try {
    const response = await fetch("/api/v2/openapi.json");
    const doc = await response.json();
    document.getElementById("title").textContent = `${doc.info.title} ${doc.info.version}`;
    document.getElementById("description").textContent = doc.info.description || "";
    const byTag = new Map();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const tag = (op.tags && op.tags[0]) || "other";
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push(operation(method, path, op, doc));
      }
    }
    target.replaceChildren();
    const nav = document.getElementById("tags");
    for (const [tag, ops] of byTag) {
      nav.append(el("a", { href: "#tag-" + tag }, tag));
      target.append(el("section", { class: "tag", id: "tag-" + tag }, el("h2", {}, tag), ...ops));
    }
  } catch (error) {
    target.replaceChildren(el("p", {}, "Could not load the API description: " + error));
  }
}

main();
