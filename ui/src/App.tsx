import { getCurrentWebview } from "@tauri-apps/api/webview";
import { Component, useEffect, useState, type ReactNode } from "react";
import { About } from "./components/About";
import { Annotate } from "./screens/Annotate";
import { Chat } from "./screens/Chat";
import { Compare } from "./screens/Compare";
import { Convert } from "./screens/Convert";
import { Dataset } from "./screens/Dataset";
import { Help } from "./screens/Help";
import { Home } from "./screens/Home";
import { Models } from "./screens/Models";
import { Train } from "./screens/Train";
import { applyTheme, nextTheme, readTheme, THEME_KEY, themeLabel, type ThemeChoice } from "./state/theme";
import { useApp, type Screen } from "./store";

const NAV: { id: Screen; label: string; needs: "nothing" | "project" | "dataset" }[] = [
  { id: "home", label: "Home", needs: "nothing" },
  { id: "models", label: "Models", needs: "nothing" },
  { id: "dataset", label: "Dataset", needs: "project" },
  { id: "convert", label: "Convert", needs: "project" },
  { id: "train", label: "Train", needs: "dataset" },
  { id: "chat", label: "Chat", needs: "dataset" },
  { id: "compare", label: "Compare", needs: "dataset" },
  { id: "annotate", label: "Annotate", needs: "dataset" },
  { id: "help", label: "Help", needs: "nothing" },
];

/** Light or dark colours on the page's root: the system's unless the user picks one (kept across starts). */
function useTheme(): [ThemeChoice, () => void] {
  const [choice, setChoice] = useState<ThemeChoice>(() => readTheme(localStorage.getItem(THEME_KEY)));
  useEffect(() => {
    const media = window.matchMedia("(prefers-color-scheme: dark)");
    const apply = () => applyTheme(choice);
    apply();
    media.addEventListener("change", apply);
    return () => media.removeEventListener("change", apply);
  }, [choice]);
  const cycle = () => {
    const next = nextTheme(choice);
    localStorage.setItem(THEME_KEY, next);
    setChoice(next);
  };
  return [choice, cycle];
}

/** A screen that fails to draw shows its error instead of a blank window. */
class ScreenBoundary extends Component<{ children: ReactNode; screen: string }, { error: string | null }> {
  state = { error: null as string | null };
  static getDerivedStateFromError(e: unknown) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  componentDidUpdate(prev: { screen: string }) {
    if (prev.screen !== this.props.screen && this.state.error) this.setState({ error: null });
  }
  render() {
    if (this.state.error)
      return (
        <div className="screen">
          <div className="card error" data-testid="screen-error">
            <strong>This screen could not be drawn.</strong> Please report it with this message: <pre>{this.state.error}</pre>
          </div>
        </div>
      );
    return this.props.children;
  }
}

export function App() {
  const { screen, go, project, state, openPath, toast, jobs } = useApp();
  const [dragging, setDragging] = useState(false);
  const [about, setAbout] = useState(false);
  const [theme, cycleTheme] = useTheme();

  // Files dropped anywhere on the window open as a project.
  useEffect(() => {
    const un = getCurrentWebview().onDragDropEvent((e) => {
      if (e.payload.type === "over" || e.payload.type === "enter") setDragging(true);
      else if (e.payload.type === "leave") setDragging(false);
      else if (e.payload.type === "drop") {
        setDragging(false);
        if (e.payload.paths.length > 0) openPath(e.payload.paths[0]);
      }
    });
    return () => {
      un.then((f) => f());
    };
  }, [openPath]);

  const running = Object.values(jobs).filter((j) => j.status === "running");
  const enabled = (n: (typeof NAV)[number]) => n.needs === "nothing" || (n.needs === "project" ? !!project : !!state?.datasets.length);
  return (
    <div className={`app ${dragging ? "dragging" : ""}`}>
      <nav className="side">
        <div className="brand">C2S Studio</div>
        {project && <div className="project-name" title={project.source_path}>{project.name}</div>}
        {NAV.map((n) => (
          <button
            key={n.id}
            className={screen === n.id ? "nav active" : "nav"}
            disabled={!enabled(n)}
            onClick={() => go(n.id)}
            data-testid={`nav-${n.id}`}
            title={enabled(n) ? "" : n.needs === "project" ? "open a dataset first" : "convert the dataset first"}
          >
            {n.label}
          </button>
        ))}
        {running.length > 0 && (
          <div className="side-jobs small">
            {running.map((j) => (
              <div key={j.id}>
                {j.kind}: {j.total ? `${Math.round((100 * j.done) / j.total)} %` : j.stage}
              </div>
            ))}
          </div>
        )}
        <button className="nav about-link" onClick={() => setAbout(true)} data-testid="nav-about" title="Version, licence and third-party notices">
          About
        </button>
        <button className="nav small" onClick={cycleTheme} data-testid="theme" data-theme-choice={theme} title="Light or dark colours; click to change">
          {themeLabel(theme)}
        </button>
      </nav>
      <main>
        <ScreenBoundary screen={screen}>
        {screen === "home" && <Home />}
        {screen === "models" && <Models />}
        {screen === "dataset" && project && <Dataset />}
        {screen === "convert" && project && <Convert />}
        {screen === "train" && project && <Train />}
        {screen === "chat" && project && <Chat />}
        {screen === "compare" && project && <Compare />}
        {screen === "annotate" && project && <Annotate />}
        {screen === "help" && <Help />}
        </ScreenBoundary>
      </main>
      {toast && (
        <div className={`toast ${toast.error ? "error" : ""}`} data-testid="toast" role={toast.error ? "alert" : "status"}>
          {toast.text}
        </div>
      )}
      {dragging && <div className="drop-overlay">Drop to open</div>}
      {about && <About onClose={() => setAbout(false)} />}
    </div>
  );
}
