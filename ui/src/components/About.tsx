import { useEffect, useState } from "react";
import { api, errorText, type About as AboutInfo } from "../api";
import { Modal } from "./Modal";

/** Help / About: the version, the licence and the third-party notices. */
export function About({ onClose }: { onClose: () => void }) {
  const [info, setInfo] = useState<AboutInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.about().then(setInfo, (e) => setError(errorText(e)));
  }, []);
  return (
    <Modal label="About C2S Studio" testId="about" className="about" onClose={onClose} closeOnBackdrop>
      <h3>C2S Studio</h3>
      {error && <div className="error-text">{error}</div>}
      {info && (
        <>
          <p data-testid="about-version">Version {info.version}</p>
          <p className="small">
            Teaches language models the language of cells, after Cell2Sentence (Levine et al., 2024). Free software under the {info.licence} licence.
          </p>
          <p className="small muted" data-testid="about-folders">
            Projects: {info.home}
            <br />
            Models: {info.models}
          </p>
          <details>
            <summary>Licence</summary>
            <pre className="notices">{info.licence_text}</pre>
          </details>
          <details data-testid="about-notices">
            <summary>Third-party notices ({info.notices ? "the software C2S Studio includes" : "in the installed packages"})</summary>
            <pre className="notices">{info.notices ?? "This copy was built from source; the installers carry the notices of every library they include (scripts/package.sh writes them)."}</pre>
          </details>
        </>
      )}
      <div className="row">
        <button className="primary" onClick={onClose} data-testid="about-close" data-autofocus>
          Close
        </button>
      </div>
    </Modal>
  );
}
