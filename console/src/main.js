import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import { takeTokenFromFragment } from "./lib/session.js";

takeTokenFromFragment(); // before anything reads the address bar
mount(App, { target: document.getElementById("app") });
