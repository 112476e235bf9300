// The highest RSS of a process while a scenario runs, sampled from /proc, and its high-water mark at the end.
import { procStatus } from './proc-stats.js';

export interface RssSampler {
  stop(): { maxRssKb: number; hwmKb: number; samples: number };
}

export function sampleRss(pid: number, intervalMs = 100): RssSampler {
  let maxRssKb = 0;
  let samples = 0;
  const take = () => {
    const s = procStatus(pid);
    if (s && Number.isFinite(s.rssKb)) {
      maxRssKb = Math.max(maxRssKb, s.rssKb);
      samples++;
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { maxRssKb, hwmKb: procStatus(pid)?.hwmKb ?? NaN, samples };
    },
  };
}
