/** A task's progress: a bar when the script reports a percent, the time left, and its message. */
import type { TaskDescription } from '../../client/index.ts';
import { duration } from '../format.ts';

export function ProgressBar({ task }: { task: TaskDescription }) {
  const progress = task.progress;
  if (task.status !== 'running') return null;
  const percent = progress?.percent;
  const value = progress?.value as { message?: unknown } | string | undefined;
  const message = typeof value === 'string' ? value : value && typeof value === 'object' && typeof value.message === 'string' ? value.message : undefined;
  return (
    <div class="progress" data-testid="progress">
      {percent !== undefined ? <progress max={100} value={percent} aria-label="progress" /> : <progress aria-label="running" />}
      <span class="progress-text">
        {percent !== undefined ? `${Math.round(percent)}%` : 'running'}
        {progress?.etaSeconds !== undefined ? ` · ${duration(progress.etaSeconds)} left` : ''}
        {message ? ` · ${message}` : ''}
      </span>
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`status status-${status}`} data-testid="status">{status}</span>;
}
