import type { Assignor, AssignorName } from './assignor-interface';
import { rangeAssign } from './range-assignor';
import { roundRobinAssign } from './roundrobin-assignor';
import { stickyAssign } from './sticky-assignor';

export const ASSIGNORS: Readonly<Record<AssignorName, Assignor>> = Object.freeze({
  range: rangeAssign,
  roundrobin: roundRobinAssign,
  sticky: stickyAssign,
});
