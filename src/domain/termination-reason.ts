import type { TerminationReason } from './schemas';

const MAX_COMMENT_SHOWN = 200;

/** One line for people (`status`, Temporal UI): the ISB's reason type and what it says about it. */
export function describeTerminationReason(reason: TerminationReason): string {
  switch (reason.type) {
    case 'Expired':
      return `Expired (lease duration ${reason.leaseDurationInHours} h)`;
    case 'BudgetExceeded':
      return `BudgetExceeded (spent ${reason.totalSpend} USD${reason.budget === undefined ? '' : ` of a ${reason.budget} USD budget`})`;
    default: {
      // Free text from the ISB: one line, bounded, so it cannot reshape the summary around it.
      const comment = reason.comment.replace(/\s+/g, ' ').trim();
      const shown = comment.length > MAX_COMMENT_SHOWN ? `${comment.slice(0, MAX_COMMENT_SHOWN)}…` : comment;
      return shown ? `${reason.type}: ${shown}` : reason.type;
    }
  }
}
