import { describeQuery, queryWarnings } from './summary';
import { FeedbackQuery } from './types';

const q = (query: Partial<FeedbackQuery>): FeedbackQuery => ({ refId: 'A', ...query });

describe('describeQuery', () => {
  it.each<[Partial<FeedbackQuery>, string]>([
    [
      { queryType: 'breakdown', sentiment: 'negative', groupBy: ['model_version', 'tag'], metric: 'share' },
      'Breakdown of negative feedback by model_version × tag, share, from Loki',
    ],
    [{}, 'Breakdown of feedback as one total, count, from Loki'],
    [
      { queryType: 'timeseries', kind: 'review', groupBy: ['model_version'], metric: 'per_1k_requests' },
      'Time series of reviews by model_version, per 1k requests, from Loki',
    ],
    [{ queryType: 'timeseries', metric: 'negative_rate' }, 'Time series of feedback, negative rate, from Loki'],
    [{ queryType: 'feedback', sentiment: 'negative' }, 'Latest 100 negative feedback events from Loki'],
    [{ queryType: 'feedback', kind: 'escalation', limit: 20 }, 'Latest 20 escalations from Loki'],
    [
      { queryType: 'trace', correlationId: ' abc-1 ' },
      'Trace of correlation id abc-1: snapshot, feedback and execution logs, from Loki',
    ],
    [{ queryType: 'trace' }, 'Trace: enter a correlation id'],
    [
      { queryType: 'versions' },
      'Model versions compared with the previous version: feedback from Loki, requests from Prometheus',
    ],
    [
      { queryType: 'versions', baseline: '$base', source: 'elasticsearch' },
      'Model versions compared with baseline $base: feedback from Elasticsearch, requests from Prometheus',
    ],
    [{ queryType: 'clusters', limit: 50 }, 'Up to 50 clusters of similar feedback comments from Loki'],
    [
      { queryType: 'clusters', sentiment: 'negative', tags: ['latency'] },
      'Up to 100 clusters of similar negative feedback comments from Loki (tagged latency)',
    ],
    [{ queryType: 'reviews' }, 'Review queue: up to 100 feedback items awaiting expert review, from Loki'],
  ])('%j → %s', (query, text) => {
    expect(describeQuery(q(query), 'loki')).toBe(text);
  });

  it('uses the default source and lists tags, filters and search of the query type', () => {
    expect(
      describeQuery(
        q({
          queryType: 'feedback',
          tags: ['bias', 'latency'],
          filters: [
            { key: 'model_id', operator: '=', value: 'bot' },
            { key: 'user_geo', operator: '!~', value: 'EU|US' },
            { key: '', operator: '=', value: 'ignored' },
          ],
          search: 'refund',
        }),
        'elasticsearch'
      )
    ).toBe(
      'Latest 100 feedback events from Elasticsearch (tagged bias or latency, model_id = bot, user_geo !~ EU|US, comment contains "refund")'
    );
    // settings a query type does not use are not described
    expect(describeQuery(q({ queryType: 'reviews', tags: ['bias'], search: 'x' }), 'loki')).toBe(
      'Review queue: up to 100 feedback items awaiting expert review, from Loki (comment contains "x")'
    );
  });
});

describe('queryWarnings', () => {
  it('explains what negative_rate does not allow', () => {
    expect(queryWarnings(q({ metric: 'negative_rate' }))).toEqual([]);
    expect(
      queryWarnings(q({ metric: 'negative_rate', sentiment: 'negative', kind: 'review', groupBy: ['sentiment'] }))
    ).toEqual([
      'Negative rate is computed over all sentiments: set Sentiment to Any.',
      'Negative rate applies to kind Feedback only.',
      'Negative rate already splits by sentiment: remove sentiment from Group by.',
    ]);
    // not for query types without a metric
    expect(queryWarnings(q({ queryType: 'feedback', metric: 'negative_rate', sentiment: 'negative' }))).toEqual([]);
  });
});
