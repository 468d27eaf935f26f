import { createRoot } from "react-dom/client";
import { App } from "./App";
import { AppProvider } from "./store";
import { applyTheme, readTheme, THEME_KEY } from "./state/theme";
import "./styles.css";

applyTheme(readTheme(localStorage.getItem(THEME_KEY)));

createRoot(document.getElementById("root")!).render(
  <AppProvider>
    <App />
  </AppProvider>,
);
