/**
 * Fusion configurations for tests of the alert path (delivery, acknowledgement, audit, restart,
 * the call UI): the shipped risk-config.json with MesoNet decisive again (face-deepfake weight
 * 0.95, its value until 2 Dec 2026), so that the one deepfake these machines can show on camera,
 * a MesoNet-domain crop (shared/data/faces/mesonet), raises ALERT on its own.
 *
 * Why not the shipped weights: MesoNet sits at chance on live face swaps and fires on real webcam
 * faces, so the shipped fusion lets it raise SUSPICIOUS alone and never ALERT (the weight's
 * `source` in risk-config.json). Those tests are about what happens once something raises ALERT,
 * so they run the real analyzer with a deployment's own configuration (ANALYZER_RISK_CONFIG, as a
 * clinic's calibrated file would be); what the shipped weights do with the same crop is asserted on
 * its own (test/integration/risk.test.ts, test/unit/analyzer/fusion.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRiskConfig, type RiskConfig } from '../../server/src/analyzer/fusion/RiskFusion.ts';

export const DECISIVE_FACE_WEIGHT = 0.95;

/**
 * The seam cue's weight beside a decisive MesoNet: its value then (0.15 until 3 Dec 2026). At the
 * shipped 0.3 next to MesoNet at 0.95, the e2e real caller (a still photo on a virtual camera, at
 * fused risk ~0.43 under MesoNet decisive) would sit on the SUSPICIOUS entry, as it did at 0.35
 * (risk-config.json, face-blend's source); the shipped fusion, with MesoNet at 0.4, reads it lower.
 */
export const DECISIVE_SEAM_WEIGHT = 0.15;

/** The shipped configuration, MesoNet decisive (and the seam cue at its weight of that time). */
export function faceDecisiveConfig(): RiskConfig {
  const c = loadRiskConfig();
  const face = c.detectors['face-deepfake']!;
  const seam = c.detectors['face-blend']!;
  return {
    ...c,
    detectors: {
      ...c.detectors,
      'face-deepfake': { ...face, weight: DECISIVE_FACE_WEIGHT, source: `Tests of the alert path (test/helpers/riskConfig.ts). ${face.source}` },
      'face-blend': { ...seam, weight: DECISIVE_SEAM_WEIGHT, source: `Tests of the alert path (test/helpers/riskConfig.ts). ${seam.source}` },
    },
  };
}

let file: string | undefined;
/** The same, as a file for ANALYZER_RISK_CONFIG (written once per test process). */
export function faceDecisiveConfigFile(): string {
  if (!file) {
    file = join(mkdtempSync(join(tmpdir(), 'dfs-risk-config-')), 'risk-config.json');
    writeFileSync(file, JSON.stringify(faceDecisiveConfig(), null, 2));
  }
  return file;
}

/**
 * Embedded analyzers (children of a test server) read their settings from this test process's
 * environment (AnalyzerProcess: the ANALYZER_* allow-list): sets ANALYZER_RISK_CONFIG to the
 * decisive file for servers started after it, and returns the undo.
 */
export function embeddedAnalyzersUseFaceDecisiveConfig(): () => void {
  const before = process.env.ANALYZER_RISK_CONFIG;
  process.env.ANALYZER_RISK_CONFIG = faceDecisiveConfigFile();
  return () => {
    if (before === undefined) delete process.env.ANALYZER_RISK_CONFIG;
    else process.env.ANALYZER_RISK_CONFIG = before;
  };
}
