import { api, errorText } from "../api";
import { useApp } from "../store";

/** "Saved ✓ name · Show in folder" after the app writes a file: the file's
 * name, its whole path in the tooltip, and the folder a click away. */
export function Saved({ path, what = "Saved", testId }: { path: string; what?: string; testId: string }) {
  const { notify } = useApp();
  const name = path.split(/[\\/]/).pop() ?? path;
  return (
    <p className="saved" data-testid={testId} data-path={path} role="status">
      <span className="success-text">{what} ✓</span>{" "}
      <span className="mono" title={path}>
        {name}
      </span>{" "}
      ·{" "}
      <button className="link" onClick={() => api.showInFolder(path).catch((e) => notify(errorText(e), true))} data-testid={`${testId}-show`} title={path}>
        Show in folder
      </button>
    </p>
  );
}
