import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { applyTheme, savedTheme } from "./logic/themes";
import { App } from "./ui/App";
import "./styles.css";

applyTheme(savedTheme());
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
