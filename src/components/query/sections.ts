import { ComponentType } from 'react';

import { FeedbackQueryType } from '../../types';
import { BreakdownSection } from './BreakdownSection';
import { ClustersSection } from './ClustersSection';
import { SectionProps } from './context';
import { FeedbackSection } from './FeedbackSection';
import { ReviewsSection } from './ReviewsSection';
import { TraceSection } from './TraceSection';
import { VersionsSection } from './VersionsSection';

/** The editor section of each query type; a Record, so a query type without a section does not compile. */
export const SECTIONS: Record<FeedbackQueryType, ComponentType<SectionProps>> = {
  breakdown: BreakdownSection,
  timeseries: BreakdownSection,
  feedback: FeedbackSection,
  trace: TraceSection,
  versions: VersionsSection,
  clusters: ClustersSection,
  reviews: ReviewsSection,
};
