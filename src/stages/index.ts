import type { Stage } from './stage.js';
import { preflightStage } from './preflight.js';
import { toolsStage } from './tools.js';
import { karpenterBuildStage } from './karpenter-build.js';
import { karpenterInstallStage } from './karpenter-install.js';
import { nodepoolStage } from './nodepool.js';
import { metricStage } from './metric.js';
import { workloadStage } from './workload.js';
import { hpaStage } from './hpa.js';
import { pendingStage } from './pending.js';
import { provisionStage } from './provision.js';
import { scheduleStage } from './schedule.js';
import { consolidationStage } from './consolidation.js';
import { cleanupStage } from './cleanup.js';

/** Every stage, in the order of the chain. */
export const ALL_STAGES: Stage[] = [
  preflightStage,
  toolsStage,
  karpenterBuildStage,
  karpenterInstallStage,
  nodepoolStage,
  metricStage,
  workloadStage,
  hpaStage,
  pendingStage,
  provisionStage,
  scheduleStage,
  consolidationStage,
  cleanupStage,
];
