/*
 * vendor.test.js -- the chart library compiled into the gateway
 * (gateway/web/uPlot.*) is the one package-lock.json pins, byte for byte.
 */
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { WEB } = require('./harness.js');

test('gateway/web holds the pinned uPlot', () => {
    const dist = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
    for (const f of ['uPlot.iife.min.js', 'uPlot.min.css'])
        assert.ok(fs.readFileSync(path.join(WEB, f)).equals(fs.readFileSync(path.join(dist, f))), f);
    assert.ok(fs.readFileSync(path.join(WEB, 'uPlot.LICENSE.txt')).equals(
        fs.readFileSync(path.join(dist, '../LICENSE'))), 'uPlot.LICENSE.txt');
});
