import { describe, expect, it } from 'vitest';
import { get, post, startOffload } from '../support/offload.js';

describe('pause as the channel views show it', () => {
  it('a paused topic shows its subscriptions paused, saying it is the topic, until it resumes', async () => {
    const offload = await startOffload({
      endpoints: { sink: { url: 'http://127.0.0.1:9' } },
      topics: { events: { subscriptions: { model: { endpoint: 'sink' }, audit: { endpoint: 'sink' } } } },
    });
    const views = async () => {
      const items = (await get(offload.url, '/v1/channels')).body.items as Array<{ name: string; paused: boolean; topicPaused?: boolean }>;
      return Object.fromEntries(items.map((i) => [i.name, { paused: i.paused, topicPaused: i.topicPaused }]));
    };
    expect((await post(offload.url, '/v1/topics/events/subscriptions/audit/pause', undefined)).status).toBe(200);
    expect(await views()).toEqual({
      events: { paused: false, topicPaused: undefined },
      'events/model': { paused: false, topicPaused: false },
      'events/audit': { paused: true, topicPaused: false },
    });
    expect((await post(offload.url, '/v1/topics/events/pause', undefined)).status).toBe(200);
    expect(await views()).toEqual({
      events: { paused: true, topicPaused: undefined },
      'events/model': { paused: true, topicPaused: true },
      'events/audit': { paused: true, topicPaused: true },
    });
    expect((await get(offload.url, '/v1/topics/events/subscriptions/model')).body).toMatchObject({ paused: true, topicPaused: true });
    expect((await post(offload.url, '/v1/topics/events/resume', undefined)).status).toBe(200);
    expect((await views())['events/model']).toEqual({ paused: false, topicPaused: false });
    expect((await views())['events/audit']).toEqual({ paused: true, topicPaused: false });
  });
});
